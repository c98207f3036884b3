import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

const ROOT = fileURLToPath(new URL('.', import.meta.url));

// The broker-level suites: what users see through the front-ends, the client, embedding and the broker API,
// which must hold on either store. The `postgres` project runs again what differs by store, with
// EVENTBUS_TEST_STORE=postgres, which the helpers read (test/helpers/broker.ts): each database a test opens is
// then a schema of its own on the tests' PostgreSQL database, dropped after the test. A test that only makes
// sense on one store says so where it is skipped. Left out of the `postgres` project, and why:
// - test/store/: the stores' own suites. conformance.test.ts holds the port's contract against both stores
//   already; crash, disk-faults, lock and writer-thread are SQLite's own (EVENTBUS_SYNC crashes, a full disk
//   and read-only files, the file lock, the writer thread); postgres-*.test.ts are PostgreSQL's own and run
//   on it already.
// - test/docs.test.ts: the documents' snippets as pasted, on the SQLite file the documents name (with its
//   pragmas); the PostgreSQL snippets run on the tests' database already.
// - test/examples.test.ts: each example opens the store it is about (ledger-postgres runs on PostgreSQL).
// - test/package.test.ts: what the packed packages hold and how they install; no store in question.
// - config, errors, architecture, lint/, protocol/, util/, core/{patterns,pending-acks},
//   delivery/backoff and transports/frame-writer: pure code, or bytes on a socket, with no broker or one
//   whose store plays no part.
// - Where the store plays no part (nothing reaches it, or only as any publish does, which the rest covers):
//   test/faults/connections.test.ts (sockets and timers); transports/http.test.ts (the token and methods of
//   the plain routes); transports/ws-errors.test.ts (error frames, refused before the store);
//   transports/ws-close.test.ts (the order of frames at a close); delivery/pool.test.ts (forwarding to
//   endpoints, and the pool kept in step with the broker's consumers); and the describe blocks marked
//   `skipIf(onPostgres)` with "The store plays no part": in tcp-ingress (AUTH, the connection limit),
//   registration (LIST/HELP/QUIT framing, error replies, AUTH, EVENTBUS_ALLOWED_TARGETS) and client/client
//   (errors, request/reply, auth, giving up and bounds, subscriptions across reconnects, process exit,
//   concurrent readers).
// - test/faults/slow-consumers.test.ts: stalled and broken push consumers beside healthy ones, and the broker's
//   memory while they fall behind: push delivery and the dispatcher's windows, above the store port; the
//   PostgreSQL store's reads under consumers in flight are what delivery/conformance and core/durable hold on it.
// - The front-ends' and the client's own suites: client/client and client/events, cli/{commands,credentials},
//   transports/{credentials,registration,tcp-ingress,ws,ws-backpressure} and faults/malformed-input. Each
//   front-end is an adapter over the broker API, which core/, delivery/ and the files below hold on both
//   stores; what a front-end adds (parsing, framing, errors, auth, flow control, reconnects) happens before or
//   after the broker call, whichever store is under it. The front-end paths whose behaviour does differ on
//   PostgreSQL stay: subscribe-from-seq and durable WebSocket consumers (ws-durable), shutdown writing acks
//   (main), spans (tracing), schedules and the schedule commands.
const BOTH_STORES = [
  'test/core/{broker,durable,lag,retention,schedules}.test.ts',
  'test/delivery/{conformance,http,list-state}.test.ts',
  'test/delivery-count.test.ts',
  'test/client/{schedules,tracing}.test.ts',
  'test/embed.test.ts',
  'test/embed/transactional-consumer.test.ts',
  'test/transports/{ws-durable,pull}.test.ts',
  'test/main.test.ts',
  'test/cli/schedules.test.ts',
  'test/faults/{kill-cycles,schedules}.test.ts',
  'test/tracing/broker-spans.test.ts',
];

// The files that take longest, started first whatever vitest knows: on a fresh checkout (CI) it has no timings
// of earlier runs and starts the largest files first, and a long file started last holds the whole run up
// while the other workers idle. Longest first, as measured on a 2-core machine.
const SLOW_FIRST = [
  'postgres:test/core/durable.test.ts',
  'sqlite:test/examples.test.ts',
  'sqlite:test/store/postgres-consumers.test.ts',
  'sqlite:test/main.test.ts',
  'sqlite:test/transports/http-api.test.ts',
  'sqlite:test/faults/slow-consumers.test.ts',
  'postgres:test/faults/kill-cycles.test.ts',
  'postgres:test/delivery-count.test.ts',
  'postgres:test/delivery/conformance.test.ts',
  'sqlite:test/ui/dashboard.test.ts',
  'postgres:test/faults/schedules.test.ts',
  'sqlite:test/faults/kill-cycles.test.ts',
  'sqlite:test/package.test.ts',
];

class SlowFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = SLOW_FIRST.indexOf(`${f.project.name}:${path.relative(ROOT, f.moduleId)}`);
      return i === -1 ? SLOW_FIRST.length : i;
    };
    return sorted.map((f, i) => ({ f, i, r: rank(f) })).sort((a, b) => a.r - b.r || a.i - b.i).map(({ f }) => f);
  }
}

export default defineConfig({
  resolve: {
    alias: [
      // The writer thread's module as built (test/global-setup.ts keeps dist/ fresh): from src/ it starts its
      // worker through tsx, which costs every SQLite broker a test opens a quarter of a second of CPU.
      { find: /^.*\/writer-thread\.js$/, replacement: fileURLToPath(new URL('dist/store/sqlite/writer-thread.js', import.meta.url)) },
    ],
  },
  test: {
    globalSetup: ['test/global-setup.ts'],
    // Test files run in child processes, and a process runs file after file with the modules it has loaded
    // (isolate: false): importing the broker again for every file cost a third of the CPU the run has. A file
    // leaves nothing behind (testScope and the helpers stop what a test started, even when it fails), and the
    // few that set process-wide state (environment, global tracer provider) set it back.
    pool: 'forks',
    isolate: false,
    // Three files at a time, whatever the machine: vitest's default (one less than the cores) runs one at a
    // time on the 2-core machines CI runs on, and most files spend much of their time waiting on sockets and
    // timers (docs/internals.md has the figures).
    maxWorkers: 3,
    sequence: { sequencer: SlowFirst },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'postgres', include: BOTH_STORES, env: { EVENTBUS_TEST_STORE: 'postgres' } } },
    ],
  },
});
