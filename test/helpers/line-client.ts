// A telnet-style client for the line front-ends, over a real socket: write lines, read reply lines with a
// timeout, see whether the server closed the connection. A client can start paused (it reads nothing until
// resume()), to play a publisher that pipelines without reading its replies. Given a CA, it speaks TLS.
import net from 'node:net';
import tls from 'node:tls';

export interface LineClient {
  readonly socket: net.Socket;
  /** Writes `text` as is (no newline added). */
  write(text: string | Buffer): Promise<void>;
  /** Writes one line and reads the next reply line. */
  send(line: string, timeoutMs?: number): Promise<string>;
  /** The next reply line; rejects after `timeoutMs` or when the connection closes first. */
  readLine(timeoutMs?: number): Promise<string>;
  /** The next `n` reply lines; rejects (saying how many arrived) after `timeoutMs` in all. */
  readLines(n: number, timeoutMs?: number): Promise<string[]>;
  /** Resolves once the server has closed the connection; rejects after `timeoutMs`. */
  closed(timeoutMs?: number): Promise<void>;
  readonly isClosed: boolean;
  /** Starts reading (for a client opened with `paused: true`). */
  resume(): void;
  /** Drops the connection at once. */
  destroy(): void;
}

export interface LineClientOptions {
  readonly host?: string;
  /** Read nothing from the socket until resume(): replies pile up in the kernel and then in the server. */
  readonly paused?: boolean;
  /** Connect over TLS, trusting this CA (PEM). */
  readonly ca?: string | Buffer;
  /** More TLS options (a protocol version, cipher suites), with `ca`. */
  readonly tls?: tls.ConnectionOptions;
}

const DEFAULT_TIMEOUT_MS = 5_000;

export function lineClient(port: number, options: LineClientOptions = {}): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    const host = options.host ?? '127.0.0.1';
    const socket = options.ca === undefined ? net.connect({ port, host }) : tls.connect({ ...options.tls, port, host, ca: options.ca });
    socket.once('error', reject);
    socket.once(options.ca === undefined ? 'connect' : 'secureConnect', () => {
      socket.off('error', reject);
      resolve(wrap(socket, options.paused === true));
    });
  });
}

function wrap(socket: net.Socket, paused: boolean): LineClient {
  const lines: string[] = [];
  let partial = '';
  let isClosed = false;
  /** Woken on every new line and on close. */
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    notify();
  });
  // Errors (ECONNRESET after the server closed) only mean the connection is gone.
  socket.on('error', () => {});
  socket.on('close', () => {
    isClosed = true;
    notify();
  });
  if (paused) socket.pause();

  const nextEvent = (deadline: number): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve(false);
      }, Math.max(0, deadline - Date.now()));
      wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });

  const readLines = async (n: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string[]> => {
    const deadline = Date.now() + timeoutMs;
    while (lines.length < n) {
      if (isClosed) throw new Error(`connection closed after ${lines.length} of ${n} lines: ${JSON.stringify(lines.slice(-3))}`);
      if (!(await nextEvent(deadline)) && lines.length < n) {
        throw new Error(`timed out after ${timeoutMs} ms with ${lines.length} of ${n} lines: ${JSON.stringify(lines.slice(-3))}`);
      }
    }
    return lines.splice(0, n);
  };

  const write = (text: string | Buffer): Promise<void> =>
    new Promise((resolve, reject) => socket.write(text, (e) => (e ? reject(e) : resolve())));

  const client: LineClient = {
    socket,
    write,
    send: async (line, timeoutMs) => {
      await write(`${line}\n`);
      return (await readLines(1, timeoutMs))[0]!;
    },
    readLine: async (timeoutMs) => (await readLines(1, timeoutMs))[0]!,
    readLines,
    closed: async (timeoutMs = DEFAULT_TIMEOUT_MS) => {
      const deadline = Date.now() + timeoutMs;
      while (!isClosed) {
        if (!(await nextEvent(deadline)) && !isClosed) throw new Error(`connection still open after ${timeoutMs} ms`);
      }
    },
    get isClosed() {
      return isClosed;
    },
    resume: () => {
      socket.resume();
    },
    destroy: () => {
      socket.destroy();
    },
  };
  return client;
}
