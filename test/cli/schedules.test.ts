// The commands for messages in time (PROTOCOL.md §9, §11) against one real broker on port 0 (either store):
// `publish --at/--in`, `schedules`, `schedule add|rm|pause|resume`, run through the program as the bin runs
// it; what they print, what the broker then holds, and the `error: <CODE> ...` lines with their exit codes.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { tempDir, testAppConfig, type TestDir } from '../helpers/broker.js';
import { runAgainst, type CliRun as Run } from '../helpers/cli.js';

interface WireSchedule {
  id: string;
  kind: string;
  topic: string;
  payload: string;
  cron: string | null;
  every_ms: number | null;
  timezone: string;
  start_at: number | null;
  end_at: number | null;
  next_at: number | null;
  paused: boolean;
}

let db: TestDir;
let app: App;
let base: string;

beforeAll(async () => {
  db = await tempDir();
  app = (await startApp(testAppConfig(db), silentLogger))._unsafeUnwrap();
  base = `http://127.0.0.1:${app.ports.http}`;
});
afterAll(async () => {
  await app.stop();
  await db.cleanup();
});

/** `eventbus <args>` through the program, against the test's broker (EVENTBUS_URL). */
const cli = (args: readonly string[], stdin?: string): Promise<Run> => runAgainst(base, args, stdin);

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller's word for the answer's shape, as with JSON.parse
async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as T };
}

const schedule = async (id: string) => api<WireSchedule>('GET', `/api/schedules/${encodeURIComponent(id)}`);

function expectFailure(run: Run, exitCode: number, line: RegExp): void {
  expect({ code: run.code, stdout: run.stdout }, run.stderr).toEqual({ code: exitCode, stdout: '' });
  expect(run.stderr.trimEnd()).toMatch(line);
}

describe('publish --at / --in', () => {
  test('--in stores the message for later and prints its schedule: id and deliver_at', async () => {
    const before = Date.now();
    const run = await cli(['publish', 'later.in', 'hello', '--in', '10m']);
    expect(run.code, run.stderr).toBe(0);
    const [, id, at] = /^scheduled (\S+) (\S+)\n$/.exec(run.stdout) ?? [];
    expect(id).toBeDefined();
    const stored = await schedule(id!);
    expect(stored.body).toMatchObject({ kind: 'once', topic: 'later.in', payload: 'hello', next_at: Date.parse(at!) });
    expect(stored.body.next_at! - before).toBeGreaterThanOrEqual(600_000);
    expect(stored.body.next_at! - Date.now()).toBeLessThanOrEqual(600_000);
  });

  test('--at takes ISO 8601 or ms; --json prints the API\'s answer; a time passed publishes at once', async () => {
    const at = Date.now() + 3_600_000;
    const iso = await cli(['publish', 'later.at', 'x', '--at', new Date(at).toISOString(), '--json']);
    expect(iso.code, iso.stderr).toBe(0);
    expect(JSON.parse(iso.stdout)).toEqual({ schedule_id: expect.any(String) as unknown, deliver_at: at, message_id: null, duplicate: false });
    const ms = await cli(['publish', 'later.at', 'y', '--at', String(at)]);
    expect(ms.stdout).toBe(`scheduled ${/^scheduled (\S+)/.exec(ms.stdout)![1]} ${new Date(at).toISOString()}\n`);
    const past = await cli(['publish', 'later.at', 'z', '--at', '2020-01-01T00:00:00Z']);
    expect(past).toEqual({ code: 0, stdout: expect.stringMatching(/^\d+\n$/) as unknown, stderr: '' });
  });

  test('bad times and durations are usage errors (exit 2); what the broker refuses is its own code (exit 1)', async () => {
    expectFailure(await cli(['publish', 't', 'x', '--in', '10 minutes']), 2, /^error: BAD_ARGS option '--in <duration>' argument '10 minutes' is invalid\. expected a whole number with ms, s, m, h or d/);
    expectFailure(await cli(['publish', 't', 'x', '--at', 'tomorrow']), 2, /^error: BAD_ARGS option '--at <t>' argument 'tomorrow' is invalid\. expected ms since the epoch or an ISO 8601 time/);
    expectFailure(await cli(['publish', 't', 'x', '--at', '1', '--in', '1s']), 2, /^error: BAD_ARGS option '--at <t>' cannot be used with option '--in <duration>'$/);
    expectFailure(await cli(['publish', '--ndjson', 't', '--in', '1s'], '{"payload":"a"}\n'), 2, /^error: BAD_ARGS --ndjson takes deliver_at or delay_ms on each line/);
    // Past EVENTBUS_MAX_DELAY (366 days by default).
    expectFailure(await cli(['publish', 't', 'x', '--in', '400d']), 1, /^error: BAD_ARGS .*(delay|deliver)/i);
  });
});

describe('schedule add|rm|pause|resume and schedules', () => {
  test('add a cron schedule with a time zone and an interval: each printed as a row, stored as given', async () => {
    const cron = await cli(['schedule', 'add', 'nightly', 'reports.daily', 'go', '--cron', '0 2 * * *', '--tz', 'Europe/Berlin']);
    expect(cron.code, cron.stderr).toBe(0);
    expect(cron.stdout).toMatch(/│ id +│ kind +│ topic +│ cron\/every +│ timezone +│ next fire +│ last fire +│ fires +│ missed +│ paused +│/);
    expect(cron.stdout).toMatch(/│ nightly +│ cron +│ reports\.daily +│ 0 2 \* \* \* +│ Europe\/Berlin +│ \d{4}-\d\d-\d\dT\d\d:00:00Z +│ - +│ 0 +│ 0 +│ no +│/);
    expect((await schedule('nightly')).body).toMatchObject({ kind: 'cron', cron: '0 2 * * *', timezone: 'Europe/Berlin', payload: 'go' });

    const start = Date.now() + 86_400_000;
    const every = await cli(['schedule', 'add', 'beat', 'health.ping', '--every', '90s', '--start', String(start), '--end', new Date(start + 3_600_000).toISOString()], '{"n":1}\n');
    expect(every.code, every.stderr).toBe(0);
    expect(every.stdout).toMatch(/│ beat +│ every +│ health\.ping +│ every 90s +│ UTC +│/);
    expect((await schedule('beat')).body).toMatchObject({ kind: 'every', every_ms: 90_000, payload: '{"n":1}', start_at: start, end_at: start + 3_600_000 });
  });

  test('pause and resume print the schedule as it is; rm prints its id and it is gone', async () => {
    await api('PUT', '/api/schedules/toggled', { topic: 't.toggled', payload: 'x', every_ms: 60_000 });
    const paused = await cli(['schedule', 'pause', 'toggled']);
    expect(paused.stdout).toMatch(/│ toggled +│ every +│ t\.toggled +│ every 1m +│ .* │ yes +│/);
    expect((await schedule('toggled')).body.paused).toBe(true);
    const resumed = await cli(['schedule', 'resume', 'toggled', '--json']);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ id: 'toggled', paused: false });
    expect(await cli(['schedule', 'rm', 'toggled'])).toEqual({ code: 0, stdout: 'removed toggled\n', stderr: '' });
    expect((await schedule('toggled')).status).toBe(404);
  });

  test('schedules reads every page: more than one page of the API, and --kind', async () => {
    // More than the 1000 a page holds, so that the command must follow `next`.
    const ids = Array.from({ length: 1005 }, (_, i) => `page-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 100) {
      await Promise.all(ids.slice(i, i + 100).map((id) => api('PUT', `/api/schedules/${id}`, { topic: 'paged', payload: 'x', every_ms: 3_600_000 })));
    }
    const json = await cli(['schedules', '--kind', 'every', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const listed = (JSON.parse(json.stdout) as { schedules: WireSchedule[] }).schedules;
    expect(listed.every((s) => s.kind === 'every')).toBe(true);
    expect(listed.map((s) => s.id).filter((id) => id.startsWith('page-'))).toEqual(ids);
    const cronOnly = await cli(['schedules', '--kind', 'cron', '--json']);
    expect((JSON.parse(cronOnly.stdout) as { schedules: WireSchedule[] }).schedules.map((s) => s.id)).toEqual(['nightly']);
    const forPeople = await cli(['schedules']);
    expect(forPeople.stdout).toMatch(/│ page-1004 +│ every +│ paged +│ every 1h +│/);
    expect(forPeople.stdout).toMatch(/│ nightly +│ cron +│/);
    for (const id of ids) await api('DELETE', `/api/schedules/${id}`);
  });

  test('refusals: the broker\'s code and reason (exit 1); a missing choice or a bad kind, usage errors (exit 2)', async () => {
    expectFailure(await cli(['schedule', 'rm', 'no-such']), 1, /^error: UNKNOWN_SCHEDULE /);
    expectFailure(await cli(['schedule', 'pause', 'no-such']), 1, /^error: UNKNOWN_SCHEDULE /);
    expectFailure(await cli(['schedule', 'add', 'bad', 't', 'x', '--cron', 'not a cron']), 1, /^error: BAD_ARGS .*cron/i);
    expectFailure(await cli(['schedule', 'add', 'bad', 't', 'x', '--cron', '* * * * *', '--tz', 'Mars/Olympus']), 1, /^error: BAD_ARGS .*(zone|Mars)/i);
    expectFailure(await cli(['schedule', 'add', 'bad', 't', 'x', '--every', '500ms']), 1, /^error: BAD_ARGS .*every_ms/);
    expectFailure(await cli(['schedule', 'add', 'bad', 't', 'x']), 2, /^error: BAD_ARGS give --cron or --every$/);
    expectFailure(await cli(['schedule', 'add', 'bad', 't', 'x', '--cron', '* * * * *', '--every', '1m']), 2, /^error: BAD_ARGS option '--cron <expr>' cannot be used with option '--every <duration>'$/);
    expectFailure(await cli(['schedules', '--kind', 'weekly']), 2, /^error: BAD_ARGS option '--kind <kind>' argument 'weekly' is invalid\. Allowed choices are once, cron, every\.$/);
    expect((await schedule('bad')).status).toBe(404);
  });
});
