// The plumbing both telnet front-ends share: a net.Server whose connections are read line by line, answered
// in line order however the answers complete, with AUTH when a token is set, a connection limit, and
// backpressure: a client that pipelines faster than it reads replies is paused, never buffered without bound.
// With TLS credentials it is a tls.Server, and the same holds once each connection's handshake is done.
import net from 'node:net';
import tls from 'node:tls';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { TlsCredentials } from '../tls-files.js';
import { LineSplitter, type LineEvent } from '../protocol/lines.js';
import { READ_ON_MS, readOn } from '../util/read-on.js';
import { RefusalLog, tokenMatches } from './auth.js';
import { boundHandshakes, servedEvent, tlsServerOptions } from './tls-server.js';

/** A reply: one or more lines (joined with '\n'), optionally closing the connection after it is written. */
export type Reply = string | { readonly text: string; readonly close: true };

export interface LineConnection {
  readonly id: number;
  readonly remote: string;
  readonly log: Logger;
}

export interface LineHandler {
  /** The reply to one line; a promise is fine, replies still go out in line order. */
  line(text: string, conn: LineConnection): Reply | Promise<Reply>;
  /** The reply to a line over the limit (it was skipped, not buffered). */
  tooLong(bytes: number, conn: LineConnection): Reply;
  closed?(conn: LineConnection): void;
}

export interface LineServerOptions {
  /** For logs: `transport`, `registration`. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly maxLineBytes: number;
  readonly maxConnections: number;
  readonly token: string | undefined;
  /** Unanswered lines per connection before reading from it pauses. */
  readonly maxPendingReplies: number;
  /** A line must arrive whole within this of its first byte (EVENTBUS_LINE_TIMEOUT_MS). */
  readonly lineTimeoutMs: number;
  /** A connection that sends nothing for this long, with nothing left to answer, is closed; 0: never. */
  readonly idleTimeoutMs: number;
  /** Speak TLS with these (EVENTBUS_TLS_CERT / EVENTBUS_TLS_KEY); plain text when undefined. */
  readonly tls: TlsCredentials | undefined;
}

export type LineLimitsConfig = Pick<Config, 'maxConnections' | 'token' | 'maxPipelinedLines' | 'lineTimeoutMs' | 'idleTimeoutMs'> & {
  /** The certificate and key the TLS settings name, read at start-up. */
  readonly tls: TlsCredentials | undefined;
};

/** The settings both telnet front-ends apply alike. */
export function lineLimits(config: LineLimitsConfig): Pick<LineServerOptions, 'maxConnections' | 'token' | 'maxPendingReplies' | 'lineTimeoutMs' | 'idleTimeoutMs' | 'tls'> {
  return {
    maxConnections: config.maxConnections,
    token: config.token,
    maxPendingReplies: config.maxPipelinedLines,
    lineTimeoutMs: config.lineTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    tls: config.tls,
  };
}

// After its last line, a connection closed for a timeout gets this long to read it before it is cut.
const CLOSING_GRACE_MS = 1000;

export class LineServer {
  readonly #options: LineServerOptions;
  readonly #handler: LineHandler;
  readonly #log: Logger;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  /** Served connections (refused ones are in #sockets only until their refusal is written). */
  readonly #open = new Set<Session>();
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
    const session = new Session(socket, conn, this.#options, this.#handler, this.#refusals);
    this.#open.add(session);
    session.start();
    socket.once('close', () => {
      this.#open.delete(session);
      this.#handler.closed?.(conn);
    });
  }
}

/** One connection: split, answer in order, pause while too many answers are outstanding. */
class Session {
  readonly #socket: net.Socket;
  readonly #conn: LineConnection;
  readonly #options: LineServerOptions;
  readonly #handler: LineHandler;
  readonly #splitter: LineSplitter;
  /** Replies in line order; undefined while the answer is still being worked out. */
  readonly #slots: (Reply | undefined)[] = [];
  #head = 0;
  #authed: boolean;
  /** The client finished sending, or the server is stopping: answer what was read, then end. */
  #ended = false;
  /** The server is stopping: reading waits for finish(), which lets in only what is already on its way. */
  #held = false;
  /** finish() was called. */
  #stopping = false;
  #chunksRead = 0;
  /** A closing reply (QUIT, failed AUTH) went out: nothing after it is read or answered. */
  #shutting = false;
  /** A closing reply is queued behind earlier answers: lines after it are not handled. */
  #closeQueued = false;
  #flushScheduled = false;
  readonly #refusals: RefusalLog;
  /** Runs while part of a line has come and not its end. */
  #lineTimer: NodeJS.Timeout | undefined;
  /** Runs while nothing comes in and nothing is left to answer. */
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(socket: net.Socket, conn: LineConnection, options: LineServerOptions, handler: LineHandler, refusals: RefusalLog) {
    this.#socket = socket;
    this.#conn = conn;
    this.#options = options;
    this.#handler = handler;
    this.#refusals = refusals;
    this.#splitter = new LineSplitter(options.maxLineBytes);
    this.#authed = options.token === undefined;
  }

  start(): void {
    const onEvent = (event: LineEvent): void => this.#onEvent(event);
    this.#socket.on('data', (chunk: Buffer) => {
      // Ending: what still comes is read only to see the client's end, and dropped.
      if (this.#shutting) return;
      this.#chunksRead++;
      this.#socket.cork();
      this.#splitter.push(chunk, onEvent);
      this.#flush();
      process.nextTick(() => this.#socket.uncork());
      if (this.#held) this.#socket.pause();
      this.#maybePause();
      this.#watchTime();
    });
    this.#socket.once('close', () => {
      clearTimeout(this.#lineTimer);
      clearTimeout(this.#idleTimer);
    });
    this.#watchTime();
    this.#socket.on('end', () => {
      this.#splitter.end(onEvent);
      this.#ended = true;
      this.#flush();
    });
    this.#socket.on('drain', () => this.#maybeResume());
    this.#socket.on('error', (e) => this.#conn.log.debug('connection error', { error: e.message }));
  }

  /** The server is stopping: nothing more is read until finish(). */
  hold(): void {
    this.#held = true;
    this.#socket.pause();
  }

  /**
   * The server is stopping: answers every line read so far, and those already on their way (read a chunk a
   * turn until a turn brings nothing more, or READ_ON_MS), then ends the connection.
   */
  finish(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#held = true;
    readOn(
      () => this.#chunksRead,
      () => {
        // A client that does not read its replies is not read either; it has the grace to catch up.
        if (!this.#shutting && !this.#socket.writableNeedDrain) this.#socket.resume();
      },
      () => {
        this.#ended = true;
        this.#flush();
      },
      READ_ON_MS,
    );
  }

  #onEvent(event: LineEvent): void {
    if (this.#shutting || this.#closeQueued) return;
    if (!this.#authed) return this.#answer(this.#authenticate(event.type === 'line' ? event.text : ''));
    if (event.type === 'too_long') return this.#answer(this.#handler.tooLong(event.bytes, this.#conn));
    let reply: Reply | Promise<Reply>;
    try {
      reply = this.#handler.line(event.text, this.#conn);
    } catch (e) {
      return this.#fail(e);
    }
    this.#answer(reply);
  }

  #authenticate(text: string): Reply {
    const [word, token] = text.trim().split(/\s+/, 2);
    if (word?.toUpperCase() === 'AUTH' && tokenMatches(token, this.#options.token)) {
      this.#authed = true;
      return 'OK';
    }
    this.#refusals.refused(this.#conn.remote, this.#options.name);
    return { text: 'ERR UNAUTHORIZED send AUTH <token> first', close: true };
  }

  /**
   * Slow clients are let go: a line begun must end within the line timeout (a client sending a byte now
   * and then holds a connection for nothing), and a connection that sends nothing for the idle timeout is
   * closed once everything it sent is answered; before AUTH, the line timeout is the idle timeout too.
   */
  #watchTime(): void {
    if (this.#splitter.inLine) {
      this.#lineTimer ??= setTimeout(() => {
        this.#closeFor(`ERR BAD_FORMAT a line must arrive whole within ${this.#options.lineTimeoutMs} ms of its first byte (EVENTBUS_LINE_TIMEOUT_MS)`);
      }, this.#options.lineTimeoutMs).unref();
    } else {
      clearTimeout(this.#lineTimer);
      this.#lineTimer = undefined;
    }
    clearTimeout(this.#idleTimer);
    const idleMs = this.#authed ? this.#options.idleTimeoutMs : this.#options.lineTimeoutMs;
    if (idleMs > 0 && !this.#ended) {
      this.#idleTimer = setTimeout(() => {
        // Answers still on their way: the client is waiting, not idle.
        if (this.#head < this.#slots.length) return this.#watchTime();
        this.#closeFor(
          this.#authed
            ? `ERR UNAVAILABLE closing a connection idle for ${idleMs} ms (EVENTBUS_IDLE_TIMEOUT_MS)`
            : `ERR UNAUTHORIZED send AUTH <token> within ${idleMs} ms (EVENTBUS_LINE_TIMEOUT_MS)`,
        );
      }, idleMs).unref();
    }
  }

  /** Ends the connection with a last line saying why; nothing more it sends is read. */
  #closeFor(line: string): void {
    if (this.#shutting || this.#socket.destroyed) return;
    this.#shutting = true;
    clearTimeout(this.#lineTimer);
    clearTimeout(this.#idleTimer);
    this.#conn.log.debug('closing a slow connection', { reason: line });
    this.#socket.pause();
    this.#socket.end(`${line}\n`);
    setTimeout(() => this.#socket.destroy(), CLOSING_GRACE_MS).unref();
  }

  #answer(reply: Reply | Promise<Reply>): void {
    const index = this.#slots.length;
    if (!(reply instanceof Promise)) {
      if (typeof reply !== 'string') this.#closeQueued = true;
      this.#slots.push(reply);
      return;
    }
    this.#slots.push(undefined);
    reply.then(
      (r) => {
        if (this.#shutting) return;
        this.#slots[index] = r;
        // One group commit answers hundreds of lines in one run of promise callbacks: write them together,
        // once those callbacks are done, not one write per line.
        if (this.#flushScheduled) return;
        this.#flushScheduled = true;
        process.nextTick(() => {
          this.#flushScheduled = false;
          this.#flush();
          this.#maybePause();
          this.#maybeResume();
        });
      },
      (e: unknown) => this.#fail(e),
    );
  }

  /** Writes every answered reply at the head of the queue, in one write. */
  #flush(): void {
    let out = '';
    while (this.#head < this.#slots.length) {
      const reply = this.#slots[this.#head];
      if (reply === undefined) break;
      this.#head++;
      if (typeof reply === 'string') out += `${reply}\n`;
      else {
        out += `${reply.text}\n`;
        this.#shutting = true;
        this.#slots.length = this.#head; // nothing after a closing reply is answered
        break;
      }
    }
    if (this.#head === this.#slots.length) {
      this.#slots.length = 0;
      this.#head = 0;
    }
    if (out !== '' && !this.#socket.destroyed) this.#socket.write(out);
    if ((this.#ended || this.#shutting) && this.#head === this.#slots.length && !this.#socket.destroyed) {
      this.#shutting = true; // nothing more is read or answered
      this.#socket.end();
      // Read on and drop what comes, to see the client's end: closing with unread input would reset the
      // connection, and the client could lose the replies still on their way.
      this.#socket.resume();
    }
  }

  /** Stops reading while too many lines wait for answers, or while the client is not reading its replies. */
  #maybePause(): void {
    // Ended: input is read only to be dropped, and 'drain' (which would resume it) no longer comes.
    if (this.#shutting) return;
    if (this.#slots.length - this.#head >= this.#options.maxPendingReplies || this.#socket.writableNeedDrain) {
      this.#socket.pause();
    }
  }

  #maybeResume(): void {
    if (this.#held) return;
    const pending = this.#slots.length - this.#head;
    if (this.#socket.isPaused() && !this.#socket.writableNeedDrain && pending < this.#options.maxPendingReplies / 2) {
      this.#socket.resume();
    }
  }

  /** A bug while handling this connection: log it with the connection, close it, keep serving the others. */
  #fail(e: unknown): void {
    this.#conn.log.error('handler failed; closing the connection', { error: e instanceof Error ? e.stack : String(e) });
    this.#socket.destroy();
  }
}
