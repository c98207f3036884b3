// The plumbing both telnet front-ends share: a net.Server whose connections are each served by a LineSession
// (line-session.ts: read line by line, answered in line order, AUTH when a token is set, backpressure), with a
// connection limit, and a stop that answers what was read before it lets go. With TLS credentials it is a
// tls.Server, and the same holds once each connection's handshake is done.
import net from 'node:net';
import tls from 'node:tls';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { TlsCredentials } from '../tls-files.js';
import { RefusalLog } from './auth.js';
import { LineSession, type LineConnection, type LineHandler, type LineSessionOptions } from './line-session.js';
import { boundHandshakes, servedEvent, tlsServerOptions } from './tls-server.js';

export interface LineServerOptions extends LineSessionOptions {
  readonly host: string;
  readonly port: number;
  readonly maxConnections: number;
  /** Speak TLS with these (EVENTBUS_TLS_CERT / EVENTBUS_TLS_KEY); plain text when undefined. */
  readonly tls: TlsCredentials | undefined;
}

export type LineLimitsConfig = Pick<Config, 'maxConnections' | 'maxPipelinedLines' | 'lineTimeoutMs' | 'idleTimeoutMs'> & {
  /** The certificate and key the TLS settings name, read at start-up. */
  readonly tls: TlsCredentials | undefined;
};

/** The settings both telnet front-ends apply alike. */
export function lineLimits(config: LineLimitsConfig): Pick<LineServerOptions, 'maxConnections' | 'maxPendingReplies' | 'lineTimeoutMs' | 'idleTimeoutMs' | 'tls'> {
  return {
    maxConnections: config.maxConnections,
    maxPendingReplies: config.maxPipelinedLines,
    lineTimeoutMs: config.lineTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    tls: config.tls,
  };
}

export class LineServer {
  readonly #options: LineServerOptions;
  readonly #handler: LineHandler;
  readonly #log: Logger;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  /** Served connections (refused ones are in #sockets only until their refusal is written). */
  readonly #open = new Set<LineSession>();
  readonly #refusals: RefusalLog;
  #nextId = 1;
  #closed: Promise<void> | undefined;

  constructor(options: LineServerOptions, handler: LineHandler, logger: Logger) {
    this.#options = options;
    this.#handler = handler;
    this.#log = logger.child({ transport: options.name });
    this.#refusals = new RefusalLog(this.#log);
    // allowHalfOpen: a client that sends its lines and closes its side (nc -q, a script) still gets every
    // reply; the session ends the connection once the last one is written.
    if (options.tls === undefined) {
      this.#server = net.createServer({ allowHalfOpen: true });
    } else {
      const server = tls.createServer({ allowHalfOpen: true, ...tlsServerOptions(options.tls, options.lineTimeoutMs) });
      boundHandshakes(server, options.maxConnections, this.#log);
      this.#server = server;
    }
    // Every connection, handshaking or served, is cut by stop().
    this.#server.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on(servedEvent(options.tls !== undefined), (socket: net.Socket) => this.#accept(socket));
  }

  /** Connections being served now. */
  connections(): number {
    return this.#open.size;
  }

  /** Listens; resolves with the bound port (the real one when the setting was 0). */
  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', reject);
        const { port } = this.#server.address() as net.AddressInfo;
        this.#log.info('listening', { address: `${this.#options.host}:${port}`, tls: this.#options.tls !== undefined });
        resolve(port);
      });
    });
  }

  /**
   * Takes no new connection, and reads nothing more from the open ones until stop(): the lines already read
   * are answered, while a client that keeps sending does not hold the broker up with lines to refuse.
   */
  stopAccepting(): void {
    // The server's close callback comes once its last connection has closed.
    this.#closed ??= new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#open) session.hold();
  }

  /**
   * Stops accepting, then ends every connection once each line it sent has been answered (what was already on
   * its way is read and refused first), and waits up to `graceMs` for the clients to take their replies and
   * close their side; whatever is still open then is cut.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopAccepting();
    if (graceMs > 0) {
      for (const session of this.#open) session.finish();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#closed, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    for (const socket of this.#sockets) socket.destroy();
    await this.#closed;
  }

  #accept(socket: net.Socket): void {
    if (this.#open.size >= this.#options.maxConnections) {
      // Read and drop whatever it sends, so its end is seen and the socket is let go.
      socket.on('error', () => {});
      socket.resume();
      socket.end(`ERR UNAVAILABLE too many connections (EVENTBUS_MAX_CONNECTIONS is ${this.#options.maxConnections})\n`);
      return;
    }
    socket.setNoDelay(true);
    const id = this.#nextId++;
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const conn: LineConnection = { id, remote, log: this.#log.child({ conn: id, remote }) };
    const session = new LineSession(socket, conn, this.#options, this.#handler, this.#refusals);
    this.#open.add(session);
    session.start();
    socket.once('close', () => {
      this.#open.delete(session);
      this.#handler.closed?.(conn);
    });
  }
}
