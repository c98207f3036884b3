// The HTTP front-end: the HTTP API (http-api.ts), the dashboard, /healthz, /metrics and the WebSocket API on upgrade.
// attachWebSocket() is also the embedding call: it serves the WebSocket API from any existing http.Server
// (plain Node, Express's app.listen(), Fastify's .server, Hono's node server) at the path the caller picks.
// With TLS credentials the server is HTTPS, and the WebSocket API wss://.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Config } from '../config.js';
import { getRequestListener } from '@hono/node-server';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Broker, ConsumerInfo } from '../core/broker.js';
import { brokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TlsCredentials } from '../tls-files.js';
import { Health } from '../protocol/http-bodies.js';
import { errorFrame } from '../protocol/ws-frames.js';
import type { HttpApiOptions, HttpEnv } from './api/route-kit.js';
import { RefusalLog, tokenOf, UNAUTHORIZED_MESSAGE } from './auth.js';
import { addDashboardRoute } from './dashboard.js';
import { createApiApp } from './http-api.js';
import { createMetrics } from './metrics.js';
import { addProbeRoutes } from './probes.js';
import type { RegistrationCommands } from './registration.js';
import { boundHandshakes, servedEvent, tlsServerOptions } from './tls-server.js';
import { WsSession } from './ws.js';

export interface WebSocketOptions {
  /** Where the WebSocket API answers, e.g. `/ws` or `/events`. */
  readonly path: string;
  readonly maxConnections: number;
  readonly maxFrameBytes: number;
  readonly maxPayloadBytes: number;
  readonly bufferBytes: number;
  /** Messages published on a session and not yet answered before reading its frames stops. */
  readonly maxUnanswered: number;
}

/** The WebSocket limits of the settings, served at `path`. */
export function webSocketOptions(
  config: Pick<Config, 'maxConnections' | 'maxFrameBytes' | 'maxPayloadBytes' | 'wsBufferBytes' | 'maxPipelinedLines'>,
  path: string,
): WebSocketOptions {
  return {
    path,
    maxConnections: config.maxConnections,
    maxFrameBytes: config.maxFrameBytes,
    maxPayloadBytes: config.maxPayloadBytes,
    bufferBytes: config.wsBufferBytes,
    maxUnanswered: config.maxPipelinedLines,
  };
}

export interface AttachedWebSocket {
  /** Open WebSocket sessions. */
  connections(): number;
  /**
   * The server is stopping: the sessions' frames are no longer read until close() (publishes already read
   * are answered), so that clients that keep sending do not hold the stop up with frames to refuse.
   */
  hold(): void;
  /**
   * Stops answering upgrades and closes every session with 1001 (the http.Server stays the caller's). Frames
   * a client sent before it saw the close (acks above all) are still read and applied; a client that has not
   * answered the close within `graceMs` is cut.
   */
  close(graceMs?: number): Promise<void>;
}

// Close codes (RFC 6455 §7.4.1, IANA registry): policy violation, and "try again later".
const CLOSE_UNAUTHORIZED = 1008;
const CLOSE_TRY_AGAIN = 1013;
const CLOSE_GOING_AWAY = 1001;
// How long a closing client has to answer the close before its socket is cut, unless the caller says.
const CLOSE_GRACE_MS = 1000;
// A frame may be this much longer than EVENTBUS_MAX_PAYLOAD: the JSON around the payload, its metadata,
// some escaping. A longer one is refused unread with TOO_LARGE, as a telnet line over the limit is.
const FRAME_ENVELOPE_BYTES = 64 * 1024;
// How long a connection over EVENTBUS_MAX_CONNECTIONS may take to send the request its refusal answers.
const OVER_LIMIT_GRACE_MS = 2000;
// HTTPS only, for a year; not includeSubDomains: the broker speaks for its own host name, not for its domain.
const HSTS = 'max-age=31536000';

export function attachWebSocket(server: http.Server, broker: Broker, options: WebSocketOptions, logger: Logger): AttachedWebSocket {
  const log = logger.child({ transport: 'websocket' });
  const refusals = new RefusalLog(log);
  // Compression is off: it costs far more CPU per frame than the bytes it saves on short events.
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false });
  const sessions = new Set<WsSession>();
  let holding = false;
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(req) !== options.path) return; // another handler's path (the caller's own WebSocket routes)
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Refusals are frames, so the client reads a code and a reason rather than a bare HTTP status.
      const principal = broker.gate.enter(tokenOf(req.headers.authorization, req.url ?? '/'), { front: 'ws', peer: peerOf(req) });
      if (principal.isErr()) {
        refusals.refused(peerOf(req), 'websocket');
        return refuse(ws, CLOSE_UNAUTHORIZED, errorFrame(undefined, brokerError('UNAUTHORIZED', `${principal.error.message}: ${UNAUTHORIZED_MESSAGE}`)));
      }
      if (sessions.size >= options.maxConnections) {
        return refuse(ws, CLOSE_TRY_AGAIN, errorFrame(undefined, brokerError('UNAVAILABLE', `too many connections (EVENTBUS_MAX_CONNECTIONS=${options.maxConnections})`)));
      }
      const limits = { bufferBytes: options.bufferBytes, maxTextBytes: options.maxPayloadBytes + FRAME_ENVELOPE_BYTES, maxUnanswered: options.maxUnanswered };
      const session = new WsSession(ws, socket, broker, principal.value, limits, log);
      sessions.add(session);
      if (holding) session.hold();
      ws.once('close', () => sessions.delete(session));
    });
  };
  server.on('upgrade', onUpgrade);
  return {
    connections: () => sessions.size,
    hold: () => {
      holding = true;
      for (const session of sessions) session.hold();
    },
    close: async (graceMs = CLOSE_GRACE_MS) => {
      server.off('upgrade', onUpgrade);
      const closing = [...wss.clients].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
      for (const session of sessions) session.finish(CLOSE_GOING_AWAY, 'broker stopping');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(closing), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

function refuse(ws: WebSocket, code: number, frame: string): void {
  ws.send(frame);
  ws.close(code);
}

function pathOf(req: http.IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

const peerOf = (req: http.IncomingMessage): string => `${req.socket.remoteAddress}:${req.socket.remotePort}`;

export type HttpConfig = Pick<
  Config,
  'host' | 'httpPort' | 'maxConnections' | 'maxFrameBytes' | 'maxPayloadBytes' | 'wsBufferBytes' | 'maxPipelinedLines' | 'nodeId' | 'httpMaxBodyBytes' | 'httpScanRows' | 'lineTimeoutMs'
> & {
  /** The certificate and key the TLS settings name, read at start-up: HTTPS and wss:// when given. */
  readonly tls: TlsCredentials | undefined;
};

export interface HttpFrontEnd {
  /** Listens; resolves with the bound port. */
  start(): Promise<number>;
  /**
   * Takes no new connection, and closes the idle ones; requests in progress go on, and WebSocket sessions
   * answer what they have read but read no more until stop().
   */
  stopAccepting(): void;
  /** Stops accepting, ends the event streams, closes the WebSocket sessions (their clients get up to `graceMs` to answer), then every connection. */
  stop(graceMs?: number): Promise<void>;
}

/** What the HTTP front-end serves besides the broker: the consumer commands, their states, the other front-ends' connections. */
export interface HttpServices {
  readonly commands: RegistrationCommands;
  readonly stateOf: (consumer: ConsumerInfo) => string;
  /** Open connections of the other front-ends, by name. */
  readonly connections: () => Record<string, number>;
  /** Whether every front-end listens and the broker is not stopping: /readyz answers 200 only then. */
  readonly serving: () => boolean;
}

/** The HTTP API's settings from the broker's. */
export function httpApiOptions(config: Omit<HttpConfig, 'tls'>, services: Pick<HttpServices, 'stateOf' | 'connections'>): HttpApiOptions {
  return {
    nodeId: config.nodeId,
    maxBodyBytes: config.httpMaxBodyBytes,
    scanRows: config.httpScanRows,
    bufferBytes: config.wsBufferBytes,
    stateOf: services.stateOf,
    connections: services.connections,
  };
}

export function createHttpServer(broker: Broker, config: HttpConfig, services: HttpServices, logger: Logger): HttpFrontEnd {
  const log = logger.child({ transport: 'http' });
  // A request's headers must come whole within the line timeout, as a telnet line must: a client that sends
  // them a byte at a time holds no connection for long. Node checks the deadlines every so often, not at once.
  const options: http.ServerOptions = {
    headersTimeout: config.lineTimeoutMs,
    // A body (a publish) may take longer than its headers, within reason: Node's own default, or more.
    requestTimeout: Math.max(300_000, config.lineTimeoutMs),
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, config.lineTimeoutMs / 4)),
  };
  let server: http.Server;
  if (config.tls === undefined) {
    server = http.createServer(options);
  } else {
    const secure = https.createServer({ ...options, ...tlsServerOptions(config.tls, config.lineTimeoutMs) });
    boundHandshakes(secure, config.maxConnections, log);
    server = secure;
  }
  // Every connection, handshaking or served, is cut at the end of stop(): closeAllConnections() knows only
  // those that have become HTTP connections, not those still in their TLS handshake.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const ws = attachWebSocket(server, broker, webSocketOptions(config, '/ws'), logger);
  // Plain HTTP connections are bounded by EVENTBUS_MAX_CONNECTIONS too, apart from the WebSocket sessions (which
  // attachWebSocket bounds), so that idle keep-alive connections, say a health checker's, never cost a
  // WebSocket client its place. A connection past the limit is answered UNAVAILABLE on its first request and
  // closed, or closed after a grace if it asks nothing; one that upgrades is a session like any other.
  const overLimit = new WeakSet<Duplex>();
  let open = 0;
  // Counted once served: under TLS the requests and upgrades come on the TLS socket, not the raw one.
  server.on(servedEvent(config.tls !== undefined), (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    if (open - ws.connections() > config.maxConnections) {
      overLimit.add(socket);
      socket.setTimeout(OVER_LIMIT_GRACE_MS, () => socket.destroy()); // an upgrade clears this timeout
    }
  });
  const { app, streams } = createApiApp(
    broker,
    services.commands,
    httpApiOptions(config, {
      stateOf: services.stateOf,
      connections: () => ({ ...services.connections(), http: open - ws.connections(), websocket: ws.connections(), sse: streams.size }),
    }),
    logger,
  );
  const metrics = createMetrics(broker, { wsConnections: () => ws.connections() });
  addServerRoutes(app, broker, metrics);
  addProbeRoutes(app, { writable: () => broker.writeFailure() === undefined, serving: services.serving });
  const listener = getRequestListener(app.fetch, {
    errorHandler: (e) => {
      log.error('HTTP request failed', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    },
  });
  server.on('request', (req, res) => {
    // Browsers that have seen it once go on using https:// for this host, never a plain http:// link to it.
    if (config.tls !== undefined) res.setHeader('strict-transport-security', HSTS);
    if (overLimit.has(req.socket)) {
      res.shouldKeepAlive = false;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'UNAVAILABLE', message: `too many connections (EVENTBUS_MAX_CONNECTIONS=${config.maxConnections})` }));
      return;
    }
    void listener(req, res);
  });
  // Upgrades to any other path: nobody else is listening on this server, so say so rather than hang.
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    if (pathOf(req) === '/ws') return;
    const hsts = config.tls === undefined ? '' : `Strict-Transport-Security: ${HSTS}\r\n`;
    socket.end(`HTTP/1.1 404 Not Found\r\nConnection: close\r\n${hsts}Content-Length: 0\r\n\r\n`);
  });
  let closed: Promise<void> | undefined;
  const stopAccepting = (): void => {
    closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    ws.hold();
  };
  return {
    start: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.httpPort, config.host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          const [web, socket] = config.tls === undefined ? ['http', 'ws'] : ['https', 'wss'];
          log.info('listening', { address: `${config.host}:${port}`, websocket: `${socket}://${config.host}:${port}/ws`, api: `${web}://${config.host}:${port}/api` });
          resolve(port);
        });
      }),
    stopAccepting,
    stop: async (graceMs) => {
      stopAccepting();
      streams.closeAll();
      await ws.close(graceMs);
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** The dashboard, /healthz, /metrics and /ws without an upgrade: the routes of the broker's own server beside the API. */
function addServerRoutes(app: OpenAPIHono<HttpEnv>, broker: Broker, metrics: Registry): void {
  addDashboardRoute(app);
  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      summary: '200 while the database can be written, 503 while it cannot',
      responses: {
        200: { content: { 'application/json': { schema: Health } }, description: 'the broker can write its database' },
        503: { content: { 'application/json': { schema: Health } }, description: 'it cannot, and says why' },
      },
    }),
    (c) => {
      const failure = broker.writeFailure();
      if (failure === undefined) return c.json({ status: 'ok', head_seq: broker.headSeq() }, 200);
      return c.json({ status: 'unavailable', head_seq: broker.headSeq(), code: failure.code, message: `the database cannot be written: ${failure.message}` }, 503);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus text',
      responses: { 200: { content: { 'text/plain': { schema: z.string() } }, description: 'the metrics' } },
    }),
    async (c) => c.text(await metrics.metrics(), 200, { 'content-type': metrics.contentType }),
  );
  app.get('/ws', (c) => c.json({ code: 'BAD_FORMAT', message: 'the WebSocket API needs an Upgrade: websocket request' }, 426));
}
