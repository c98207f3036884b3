// The other half of test/helpers/pg-sync.ts: a worker thread with one PostgreSQL connection that runs each
// query it is sent and answers on the port, then wakes the test's thread, which waits on `flag` meanwhile.
import pg from 'pg';
import { workerData } from 'node:worker_threads';

const { url, port, flag } = workerData;
const done = new Int32Array(flag);
// bigint as a number, as the store reads it: counts and seqs compare with what the SQLite checks expect.
pg.types.setTypeParser(pg.types.builtins.INT8, Number);
const client = new pg.Client({ connectionString: url, application_name: 'eventbus-tests' });
const connected = client.connect();
let searchPath;

port.on('message', async ({ schema, text, values }) => {
  let answer;
  try {
    await connected;
    if (schema !== searchPath) {
      await client.query(`SET search_path TO "${schema}"`);
      searchPath = schema;
    }
    const result = await client.query(text, values);
    answer = { rows: result.rows };
  } catch (e) {
    answer = { error: `${e.message} (in: ${text})` };
  }
  port.postMessage(answer);
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
});
