// /metrics as Prometheus's own linter reads it: `promtool check metrics` (Debian's prometheus package, which
// .ci/run installs) finds nothing to say of a scrape in which every series of ours has samples.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect, test } from 'vitest';
import { startApi } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';

const scope = testScope();
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

/** promtool's verdict on a scrape: its exit status and what it printed. */
function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(PROMTOOL!, ['check', 'metrics'], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error === null) resolve({ code: 0, output: `${stdout}${stderr}` });
      else if (typeof error.code === 'number') resolve({ code: error.code, output: `${stdout}${stderr}` });
      else reject(new Error(`promtool did not run: ${error.message}`));
    });
    child.stdin!.end(text);
  });
}

test('promtool check metrics passes a scrape with topics, consumers and schedules in it, and says nothing', async () => {
  expect(PROMTOOL, "promtool is missing: install Debian's prometheus package (apt-get install prometheus), as .ci/run does").toBeDefined();
  const bus = await startApi(scope, 'sqlite');
  for (const body of [{ topic: 'orders.created', payload: 'x' }, { topic: 'orders.paid', payload: 'y' }, { topic: 'later', payload: 'z', delay_ms: 60_000 }]) {
    expect((await bus.call('POST', '/api/publish', body)).status).toBe(200);
  }
  expect((await bus.call('PUT', '/api/consumers/billing', { patterns: ['orders.*'] })).status).toBe(200);
  const text = await (await fetch(`${bus.base}/metrics`)).text();
  expect(text).toMatch(/^# TYPE eventbus_topic_published_total counter$/m);
  expect(text).toMatch(/^eventbus_consumer_lag\{consumer="billing"\} \d+$/m);
  expect(text).toMatch(/^eventbus_process_cpu_seconds_total /m);
  expect(await promtool(text)).toEqual({ code: 0, output: '' });
});
