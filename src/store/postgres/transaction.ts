// One transaction on a connection of a pool, for the PostgreSQL store's writes that take more than one
// statement and for transactional consume.
import type pg from 'pg';

/** Runs `work` between BEGIN and COMMIT on a connection of `pool`; rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
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
