// Shared by the bench's child processes: the compiled broker (dist/) with the bench's settings.
import { openSqliteBroker } from '../dist/app.js';
import { silentLogger } from '../dist/logger.js';

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
  return (await openSqliteBroker(config, silentLogger))._unsafeUnwrap().broker;
}
