// Shared by the bench's child processes: the compiled broker (dist/) with the bench's settings.
import { openSqliteBroker } from '../dist/app.js';
import { silentLogger } from '../dist/logger.js';

/** A step the run cannot go on without: its Result's value; its error ends the run (bench/lib.ts's `must`). */
export function must(result) {
  if (result.isErr()) throw new Error(`the benchmark cannot go on: ${result.error.message}`, { cause: result.error });
  return result.value;
}

export async function openBenchBroker(dbPath, sync) {
  const config = {
    dbPath,
    sync,
    defaultTtlSeconds: 0,
    ackTimeoutMs: 30_000,
    maxDeliveries: 10,
    maxInFlight: 1000,
    maxPayloadBytes: 1_048_576,
    retention: [],
    retentionIntervalMs: 60_000,
  };
  return must(await openSqliteBroker(config, silentLogger)).broker;
}
