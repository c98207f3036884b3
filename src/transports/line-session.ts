// One connection of a telnet front-end (line-server.ts accepts them): its bytes split into lines, each line
// answered by the front-end's handler, the answers written in line order however they complete; AUTH first
// when a token is set; reading paused while too many answers are outstanding or the client does not read
// them; slow and idle clients let go; and, when the broker stops, the lines already on their way answered.
import type net from 'node:net';
import type { Logger } from '../logger.js';
import { LineSplitter, type LineEvent } from '../protocol/lines.js';
import { READ_ON_MS, readOn } from '../util/read-on.js';
import type { Gate, Principal } from '../core/broker.js';
import type { RefusalLog } from './auth.js';

/** A reply: one or more lines (joined with '\n'), optionally closing the connection after it is written. */
export type Reply = string | { readonly text: string; readonly close: true };

export interface LineConnection {
  readonly id: number;
  readonly remote: string;
  readonly log: Logger;
}

export interface LineHandler {
  /** The reply to one line from `principal`; a promise is fine, replies still go out in line order. */
  line(text: string, conn: LineConnection, principal: Principal): Reply | Promise<Reply>;
  /** The reply to a line over the limit (it was skipped, not buffered). */
  tooLong(bytes: number, conn: LineConnection): Reply;
  closed?(conn: LineConnection): void;
}

/** The settings a session goes by: the server's, less those of its listener. */
export interface LineSessionOptions {
  /** For logs: `transport`, `registration`. */
  readonly name: string;
  readonly maxLineBytes: number;
  /** Who may do what (PROTOCOL.md §12): AUTH's token is checked here. */
  readonly gate: Gate;
  /** Unanswered lines per connection before reading from it pauses. */
  readonly maxPendingReplies: number;
  /** A line must arrive whole within this of its first byte (EVENTBUS_LINE_TIMEOUT_MS). */
  readonly lineTimeoutMs: number;
  /** A connection that sends nothing for this long, with nothing left to answer, is closed; 0: never. */
  readonly idleTimeoutMs: number;
}

// After its last line, a connection closed for a timeout gets this long to read it before it is cut.
const CLOSING_GRACE_MS = 1000;

/** One connection: split, answer in order, pause while too many answers are outstanding. */
export class LineSession {
  readonly #socket: net.Socket;
  readonly #conn: LineConnection;
  readonly #options: LineSessionOptions;
  readonly #handler: LineHandler;
  readonly #splitter: LineSplitter;
  /** Replies in line order; undefined while the answer is still being worked out. */
  readonly #slots: (Reply | undefined)[] = [];
  #head = 0;
  /** Who sent AUTH (or anyone, when no token is checked); undefined until then. */
  #principal: Principal | undefined;
  #unwatch: (() => void) | undefined;
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

  constructor(socket: net.Socket, conn: LineConnection, options: LineSessionOptions, handler: LineHandler, refusals: RefusalLog) {
    this.#socket = socket;
    this.#conn = conn;
    this.#options = options;
    this.#handler = handler;
    this.#refusals = refusals;
    this.#splitter = new LineSplitter(options.maxLineBytes);
    if (!options.gate.enabled) this.#enter(undefined);
  }

  get #authed(): boolean {
    return this.#principal !== undefined;
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
      this.#unwatch?.();
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
    const principal = this.#principal;
    if (principal === undefined) return this.#answer(this.#authenticate(event.type === 'line' ? event.text : ''));
    if (event.type === 'too_long') return this.#answer(this.#handler.tooLong(event.bytes, this.#conn));
    let reply: Reply | Promise<Reply>;
    try {
      reply = this.#handler.line(event.text, this.#conn, principal);
    } catch (e) {
      return this.#fail(e);
    }
    this.#answer(reply);
  }

  #authenticate(text: string): Reply {
    const [word, token] = text.trim().split(/\s+/, 2);
    const isAuth = word?.toUpperCase() === 'AUTH';
    if (isAuth && this.#enter(token ?? '')) return 'OK';
    this.#refusals.refused(this.#conn.remote, this.#options.name);
    // In the terms of what the client sent: an AUTH line whose token is wrong is told so, not to send AUTH.
    const reason = !isAuth ? 'send AUTH <token> first' : token === undefined ? 'AUTH needs the token: AUTH <token>' : "not a valid token: AUTH takes EVENTBUS_TOKEN or a credential's token";
    return { text: `ERR UNAUTHORIZED ${reason}`, close: true };
  }

  /** Lets the client in as `token`'s credential, if it is one, and follows that credential while connected. */
  #enter(token: string | undefined): boolean {
    const entered = this.#options.gate.enter(token, { front: this.#options.name, peer: this.#conn.remote });
    if (entered.isErr()) return false;
    this.#principal = entered.value;
    this.#unwatch = this.#options.gate.watch(entered.value, (change) => {
      // Narrowed, the next line is judged by the new permissions; a line port holds nothing that would need ending.
      if (change === 'revoked') this.#closeFor('ERR UNAUTHORIZED the credential of this connection was rotated or removed');
    });
    return true;
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
