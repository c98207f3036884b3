// One transaction on a connection of a pool, for the PostgreSQL store's writes that take more than one
// statement and for transactional consume.
import type pg from 'pg';

// A deadlock's victim and a serialization failure are rolled back whole, and PostgreSQL's advice is to run the
// transaction again: the other side has gone on by then.
const CONFLICTS = new Set(['40P01', '40001']);

export interface TransactionOptions {
  /** How many times a transaction rolled back by a conflict runs again (default 2); 0 where the work is the caller's own code. */
  readonly conflictRetries?: number;
}

/** Runs `work` between BEGIN and COMMIT on a connection of `pool`; rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const retries = options.conflictRetries ?? 2;
  for (let attempt = 0; ; attempt++) {
    try {
      return await once(pool, work);
    } catch (e) {
      if (attempt >= retries || !CONFLICTS.has((e as { code?: unknown }).code as string)) throw e;
    }
  }
}

async function once<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A checked-out client has no listener for its connection's errors (the pool's idle one is taken off
  // while it is out): a connection cut between two of the transaction's queries would emit an unhandled
  // 'error' and end the process. The next query fails on its own and the transaction with it.
  const lost = (): void => {
    broken = true;
  };
  client.on('error', lost);
  try {
    await client.query('BEGIN');
    const value = await work(client);
    await client.query('COMMIT');
    return value;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw e;
  } finally {
    client.off('error', lost);
    client.release(broken);
  }
}
