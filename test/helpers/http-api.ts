// The whole app on either store (a temp SQLite file, or a schema of its own on the tests' PostgreSQL) with an
// HTTP client for its API, and a reader of Server-Sent Events over a plain socket (what curl -N does), for the
// HTTP API tests.
import net from 'node:net';
import { startApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { tempDir, testAppConfig } from './broker.js';
import { query, type TestScope } from './scope.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface ApiBus {
  readonly app: App;
  readonly base: string;
  /** A JSON request: the status, the parsed answer and its headers. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller's word for the answer's shape, as with JSON.parse
  call<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; headers: Headers }>;
  /** Reads the broker's tables (SQLite through a read-only connection, PostgreSQL through its own). */
  sql<T>(text: string): Promise<T[]>;
}

export async function startApi(scope: TestScope, store: StoreKind, env: Record<string, string> = {}): Promise<ApiBus> {
  const db = await tempDir(store);
  scope.defer(() => db.cleanup());
  const app = (await startApp(testAppConfig(db, env), silentLogger))._unsafeUnwrap();
  scope.defer(() => app.stop());
  const base = `http://127.0.0.1:${app.ports.http}`;
  return {
    app,
    base,
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller's word for the answer's shape
    call: async <T,>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T, headers: res.headers };
    },
    sql: <T,>(text: string) => Promise.resolve(query<T>(db, text)),
  };
}

export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

/**
 * An event stream read over a raw socket, as curl -N reads it: the status line and headers, then events as
 * they come. `pause()` stops reading from the socket (a client that stops reading); `resume()` goes on.
 */
export interface SseClient {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** The next `n` events (comments skipped), within `timeoutMs`. */
  take(n: number, timeoutMs?: number): Promise<SseEvent[]>;
  /** Events received and not taken yet. */
  pending(): SseEvent[];
  pause(): void;
  resume(): void;
  readonly socket: net.Socket;
  close(): void;
}

export async function sseConnect(port: number, path: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const lines = Object.entries({ host: `127.0.0.1:${port}`, accept: 'text/event-stream', ...headers }).map(([k, v]) => `${k}: ${v}`);
  socket.write(`GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
  let buffered = '';
  let head: { status: number; headers: Record<string, string> } | undefined;
  const events: SseEvent[] = [];
  const waiters: (() => void)[] = [];
  let chunked = false;
  let raw = '';
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    if (head === undefined) {
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...headerLines] = raw.slice(0, end).split('\r\n');
      const h = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      head = { status: Number(statusLine!.split(' ')[1]), headers: h };
      chunked = h['transfer-encoding'] === 'chunked';
      raw = raw.slice(end + 4);
      wake();
    }
    // Chunked transfer: drop the chunk size lines, keep the data.
    if (chunked) {
      for (;;) {
        const eol = raw.indexOf('\r\n');
        if (eol < 0) break;
        const size = parseInt(raw.slice(0, eol), 16);
        if (raw.length < eol + 2 + size + 2) break;
        buffered += raw.slice(eol + 2, eol + 2 + size);
        raw = raw.slice(eol + 2 + size + 2);
      }
    } else {
      buffered += raw;
      raw = '';
    }
    for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':') || line === '') continue;
        const colon = line.indexOf(':');
        fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
      }
      if (fields['data'] !== undefined) events.push({ id: fields['id'], event: fields['event'], data: fields['data'] });
    }
    wake();
  });
  const next = (timeoutMs: number, done: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = (): void => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  await next(5000, () => head !== undefined, 'the response head');
  return {
    status: head!.status,
    headers: head!.headers,
    socket,
    take: async (n, timeoutMs = 5000) => {
      await next(timeoutMs, () => events.length >= n, `${n} events (have ${events.length})`);
      return events.splice(0, n);
    },
    pending: () => events.splice(0),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close: () => socket.destroy(),
  };
}

/** The Prometheus samples of one metric, by their label set as text. */
export async function metric(base: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? '', Number(m[2]));
  }
  return out;
}
