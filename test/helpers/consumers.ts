// Push consumers for delivery tests: a real TCP, UDP, HTTP or WebSocket server on 127.0.0.1 that records
// what the broker sends it, in arrival order. It starts on a free port outside the ephemeral range (ports.ts),
// keeps that port across stop()/start() (a consumer that restarts), and can stall (accept but never read or
// answer) to play a slow consumer.
// Also the whole app to push from (pushBus): registration and publishing over its real ports.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { startApp, type App } from '../../src/app.js';
import { testAppConfig, type TestDb } from './broker.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { lineClient, type LineClient } from './line-client.js';
import type { TestScope } from './scope.js';
import { restartablePort } from './ports.js';
import { until } from './until.js';

export type EndpointProtocol = 'tcp' | 'udp' | 'ws' | 'http';

export interface Received {
  /** The payload: the line (tcp), the datagram (udp), the frame's or the body's `payload` (ws, http). */
  readonly payload: string;
  /** The parsed frame (ws) or request body (http); undefined for tcp and udp. */
  readonly body: Record<string, unknown> | undefined;
  /** Date.now() on arrival. */
  readonly at: number;
  /** http: the request's method, path and content-type. */
  readonly request?: { readonly method: string; readonly path: string; readonly contentType: string | undefined; readonly headers: http.IncomingHttpHeaders };
}

export interface EndpointOptions {
  /** http: the status to answer each request with (`n` counts requests from 0); 200 when not given. */
  readonly status?: (body: Record<string, unknown>, n: number) => number;
  /** http: the body to answer with (`n` as for status); none when not given. */
  readonly answer?: (body: Record<string, unknown>, n: number) => string;
  /** Accept connections but never read (tcp, ws) or never answer (http). */
  readonly stalled?: boolean;
  /** Called on each arrival with the number received so far (to stop the endpoint at a chosen moment). */
  readonly onReceive?: (received: Received, count: number) => void;
}

export interface Endpoint {
  readonly protocol: EndpointProtocol;
  /** The bound port; kept across restarts. 0 before the first start(). */
  readonly port: number;
  /** `<proto>://127.0.0.1:<port>`, the address to register. */
  readonly url: string;
  /** Everything received, in arrival order, across restarts. */
  readonly received: Received[];
  payloads(): string[];
  readonly running: boolean;
  /** Connections (tcp, ws) accepted so far. */
  readonly connections: number;
  /** Listens (on a port outside the ephemeral range the first time, then on the same port again). */
  start(): Promise<void>;
  /** An orderly restart: closes the listener and every connection normally (tcp FIN, ws close 1001). */
  stop(): Promise<void>;
  /**
   * Dies like a crashed process: connections are reset (tcp RST, ws dropped without a close frame), and
   * what it had read but not recorded is lost.
   */
  crash(): Promise<void>;
  /** Resolves once `count` messages have arrived; rejects after `timeoutMs` saying how many did. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
}

/** How long an orderly stop waits for a connection to close before dropping it. */
const GRACE_MS = 200;
const HOST = '127.0.0.1';

/** An endpoint, not started yet. */
export function endpoint(protocol: EndpointProtocol, options: EndpointOptions = {}): Endpoint {
  const received: Received[] = [];
  const record = (payload: string, body?: Record<string, unknown>, request?: Received['request']): void => {
    const r: Received = { payload, body, at: Date.now(), ...(request === undefined ? {} : { request }) };
    received.push(r);
    options.onReceive?.(r, received.length);
  };
  let port = 0;
  let connections = 0;
  let server: Listener | undefined;

  const listen = async (): Promise<Listener> => {
    switch (protocol) {
      case 'tcp':
        return tcpListener(port, record, options, () => connections++);
      case 'udp':
        return udpListener(port, record);
      case 'http':
        return httpListener(port, record, options);
      case 'ws':
        return wsListener(port, record, options, () => connections++);
    }
  };

  const ep: Endpoint = {
    protocol,
    get port() {
      return port;
    },
    get url() {
      return `${protocol}://${HOST}:${port}`;
    },
    received,
    payloads: () => received.map((r) => r.payload),
    get running() {
      return server !== undefined;
    },
    get connections() {
      return connections;
    },
    start: async () => {
      if (server !== undefined) return;
      // A port it can come back on after stop() or crash() (ports.ts).
      if (port === 0) port = await restartablePort();
      server = await listen();
      port = server.port;
    },
    stop: async () => {
      const s = server;
      server = undefined;
      await s?.close(false);
    },
    crash: async () => {
      const s = server;
      server = undefined;
      await s?.close(true);
    },
    waitFor: async (count, timeoutMs) => {
      await until(
        () => `${count} messages at the ${protocol} endpoint (it has ${received.length}; last: ${JSON.stringify(received.slice(-3).map((r) => r.payload))})`,
        () => received.length >= count,
        timeoutMs,
      );
    },
  };
  return ep;
}

/** A started endpoint. */
export async function startEndpoint(protocol: EndpointProtocol, options: EndpointOptions = {}): Promise<Endpoint> {
  const ep = endpoint(protocol, options);
  await ep.start();
  return ep;
}

/** An address of the protocol where nothing listens (a port bound on 127.0.0.1 and released). */
export async function deadAddress(protocol: EndpointProtocol): Promise<string> {
  // A privileged port that refuses connections now, rather than one an endpoint just gave up: the tests bind
  // port 0 or ports from 20000 up only, so another test's server (in this process or a parallel one) can be
  // given such a port the moment it is free, and never a privileged one.
  for (let tries = 0, port = nextDeadPort; tries < 424; tries++, port = port >= 1023 ? 600 : port + 1) {
    if (await refuses(port)) {
      nextDeadPort = port >= 1023 ? 600 : port + 1;
      return `${protocol}://${HOST}:${port}`;
    }
  }
  throw new Error('no port from 600 to 1023 refuses connections here');
}

let nextDeadPort = 600 + (process.pid % 400);

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** A broken endpoint that is no Endpoint: its address to register, and how to stop it. */
export interface BrokenEndpoint {
  readonly url: string;
  close(): Promise<void>;
}

/** A tcp server that resets every connection it accepts. */
export async function resettingEndpoint(): Promise<BrokenEndpoint> {
  const server = net.createServer((socket) => socket.resetAndDestroy());
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return {
    url: `tcp://${HOST}:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An http server that answers 200, but only after `delayMs` (longer than the broker's push timeout, say). */
export async function lateHttpEndpoint(delayMs: number): Promise<BrokenEndpoint> {
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    req.resume();
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.end();
    }, delayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return {
    url: `http://${HOST}:${(server.address() as net.AddressInfo).port}/late`,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface Listener {
  readonly port: number;
  close(crash: boolean): Promise<void>;
}

function tcpListener(
  port: number,
  record: (payload: string) => void,
  options: EndpointOptions,
  accepted: () => void,
): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (options.stalled === true) {
      socket.pause();
      return;
    }
    let partial = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      // Like a process that dies: once stopped (even from onReceive), the rest of what it had read is lost.
      for (const line of lines) if (!closed) record(line);
    });
  });
  let closed = false;
  return listening(server, port, (crash) => {
    closed = true;
    for (const s of sockets) {
      if (crash) s.resetAndDestroy();
      else {
        s.end();
        setTimeout(() => s.destroy(), GRACE_MS).unref(); // a stalled peer never finishes the orderly close
      }
    }
  });
}

function udpListener(port: number, record: (payload: string) => void): Promise<Listener> {
  // A larger receive buffer than the default 208 KiB (capped by net.core.rmem_max): a burst of a few hundred
  // datagrams would otherwise overflow it while this process is busy sending them.
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  socket.on('message', (data) => record(data.toString('utf8')));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, HOST, () => {
      socket.off('error', reject);
      resolve({
        port: socket.address().port,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}

function httpListener(
  port: number,
  record: (payload: string, body: Record<string, unknown>, request: Received['request']) => void,
  options: EndpointOptions,
): Promise<Listener> {
  let requests = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = { unparsable: text };
      }
      record(typeof body.payload === 'string' ? body.payload : text, body, {
        method: request.method ?? '',
        path: request.url ?? '',
        contentType: request.headers['content-type'],
        headers: request.headers,
      });
      if (options.stalled === true) return; // never answered
      const n = requests++;
      response.statusCode = options.status?.(body, n) ?? 200;
      response.end(options.answer?.(body, n));
    });
  });
  return listening(server, port, () => server.closeAllConnections());
}

function wsListener(
  port: number,
  record: (payload: string, body: Record<string, unknown>) => void,
  options: EndpointOptions,
  accepted: () => void,
): Promise<Listener> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const clients = new Set<WebSocket>();
  wss.on('connection', (ws, request) => {
    accepted();
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => {});
    if (options.stalled === true) {
      request.socket.pause();
      return;
    }
    ws.on('message', (data) => {
      const text = (data as Buffer).toString();
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(text) as Record<string, unknown>;
      } catch {
        frame = { unparsable: text };
      }
      record(typeof frame.payload === 'string' ? frame.payload : text, frame);
    });
  });
  return listening(server, port, (crash) => {
    for (const ws of clients) {
      if (crash) ws.terminate();
      else {
        ws.close(1001, 'restarting');
        setTimeout(() => ws.terminate(), GRACE_MS).unref(); // a stalled peer never finishes the orderly close
      }
    }
    wss.close();
    if (crash) server.closeAllConnections();
  });
}

/** Listens on 127.0.0.1:`port`; close() ends every connection (`dropAll`) and stops listening. */
function listening(server: net.Server, port: number, dropAll: (crash: boolean) => void): Promise<Listener> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: (crash) =>
          new Promise<void>((done) => {
            server.close(() => done());
            dropAll(crash);
          }),
      });
    });
  });
}

export interface PushBus {
  /** The running app (a new one after restart()). */
  readonly app: App;
  readonly db: TestDb;
  /** `REGISTER <id> <url> <patterns>` on the registration port; fails the test unless `OK registered <id>`. */
  register(id: string, url: string, ...patterns: string[]): Promise<void>;
  /** The LIST lines, without END. */
  list(): Promise<string[]>;
  /** Publishes `topic:payload` lines on the transport port, pipelined; the seqs, in order. */
  publish(topic: string, payloads: readonly string[]): Promise<number[]>;
  /** Publishes raw lines (either form of PROTOCOL.md §3); the seqs, in order. */
  publishLines(lines: readonly string[]): Promise<number[]>;
  /** app.stop(), then startApp() on the same database and settings. */
  restart(): Promise<void>;
}

/** The whole app on a fresh database in `scope`, every port 0; `env` adds or overrides settings. */
export async function pushBus(scope: TestScope, env: Record<string, string> = {}, logger: Logger = silentLogger): Promise<PushBus> {
  const dir = await scope.dir();
  const config = testAppConfig(dir, env);
  const start = async (): Promise<App> => {
    const started = await startApp(config, logger);
    if (started.isErr()) throw new Error(started.error.message);
    const app = started.value;
    scope.defer(() => app.stop());
    return app;
  };
  let app = await start();
  const withClient = async <T>(port: number, use: (c: LineClient) => Promise<T>): Promise<T> => {
    const client = await lineClient(port);
    try {
      return await use(client);
    } finally {
      client.destroy();
    }
  };
  const publishLines = (lines: readonly string[]): Promise<number[]> =>
    withClient(app.ports.transport, async (c) => {
      await c.write(lines.map((l) => `${l}\n`).join(''));
      const replies = await c.readLines(lines.length, 10_000);
      return replies.map((reply) => {
        const m = /^OK (\d+)$/.exec(reply);
        if (!m) throw new Error(`publish answered ${JSON.stringify(reply)}`);
        return Number(m[1]);
      });
    });
  return {
    get app() {
      return app;
    },
    db: dir,
    register: (id, url, ...patterns) =>
      withClient(app.ports.registration, async (c) => {
        const reply = await c.send(['REGISTER', id, url, ...patterns].join(' '));
        if (reply !== `OK registered ${id}`) throw new Error(`REGISTER ${id} answered ${JSON.stringify(reply)}`);
      }),
    list: () =>
      withClient(app.ports.registration, async (c) => {
        await c.write('LIST\n');
        const lines: string[] = [];
        for (let line = await c.readLine(); line !== 'END'; line = await c.readLine()) lines.push(line);
        return lines;
      }),
    publish: (topic, payloads) => publishLines(payloads.map((p) => `${topic}:${p}`)),
    publishLines,
    restart: async () => {
      await app.stop();
      app = await start();
    },
  };
}
