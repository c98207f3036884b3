// How a broker learns that other brokers have appended: every append notifies a channel at commit (once
// per transaction, with the head's new seq), and one dedicated connection LISTENs to it; behind it, a poll of the head row a few
// times a second, so that a lost notification, a connection being re-established or a pooler that drops
// LISTEN never stalls a subscriber for longer than that. The same connection hears the consumers' channel:
// pauses and requeues made through other brokers, applied here as they commit; and the cluster's: members
// that came or went and partitions given up on other brokers, for this one to beat at once.
import pg from 'pg';
import type { ConsumerSignal } from '../../core/store-port.js';
import type { Logger } from '../../logger.js';
import { clientConfig, type PgOptions } from './connect.js';
import { parseSignal } from './consumer-queries.js';
import { parseAnnouncement } from './heartbeat-queries.js';
import { HEAD } from './queries.js';

const POLL_MS = 250;
const RECONNECT_MS = 1000;

export class HeadWatch {
  readonly #options: PgOptions;
  readonly #channel: string;
  readonly #signalChannel: string;
  readonly #clusterChannel: string;
  readonly #pool: pg.Pool;
  readonly #log: Logger;
  #client: pg.Client | undefined;
  #listeners: ((seq: number) => void)[] = [];
  readonly #signalListeners: ((signal: ConsumerSignal, from: string) => void)[] = [];
  readonly #announceListeners: ((consumers: readonly string[] | undefined, from: string) => void)[] = [];
  #pollTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #checking = false;
  #checkAgain = false;
  #stopped = false;

  constructor(options: PgOptions, channels: { log: string; consumers: string; cluster: string }, pool: pg.Pool, logger: Logger) {
    this.#options = options;
    this.#channel = channels.log;
    this.#signalChannel = channels.consumers;
    this.#clusterChannel = channels.cluster;
    this.#pool = pool;
    this.#log = logger;
  }

  onHead(listener: (seq: number) => void): void {
    this.#listeners.push(listener);
  }

  /** `from` names the store that sent it. */
  onSignal(listener: (signal: ConsumerSignal, from: string) => void): void {
    this.#signalListeners.push(listener);
  }

  /** Another heartbeat's announcement (Heartbeat.announce); `from` names the store that sent it. */
  onAnnounce(listener: (consumers: readonly string[] | undefined, from: string) => void): void {
    this.#announceListeners.push(listener);
  }

  async start(): Promise<void> {
    this.#pollTimer = setInterval(() => void this.#check(), POLL_MS).unref();
    await this.#listen();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #listen(): Promise<void> {
    const client = new pg.Client(clientConfig(this.#options));
    const lost = (why: string): void => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => undefined);
      if (this.#stopped) return;
      this.#log.warn('the PostgreSQL notification connection was lost; polling until it is back', { reason: why });
      this.#reconnectTimer = setTimeout(() => void this.#listen(), RECONNECT_MS).unref();
    };
    client.on('error', (e) => {
      lost(e.message);
    });
    client.on('end', () => {
      lost('connection ended');
    });
    client.on('notification', (n) => {
      if (n.channel === this.#signalChannel) {
        const heard = parseSignal(n.payload);
        if (heard !== undefined) for (const listener of this.#signalListeners) listener(heard.signal, heard.from);
        return;
      }
      if (n.channel === this.#clusterChannel) {
        const heard = parseAnnouncement(n.payload);
        if (heard !== undefined) for (const listener of this.#announceListeners) listener(heard.consumers, heard.from);
        return;
      }
      // The payload is the head's seq at that commit; anything else (an older broker's empty one) is checked.
      const seq = Number(n.payload);
      if (n.payload !== undefined && n.payload !== '' && Number.isSafeInteger(seq)) this.#heard(seq);
      else void this.#check();
    });
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#channel}"`);
      await client.query(`LISTEN "${this.#signalChannel}"`);
      await client.query(`LISTEN "${this.#clusterChannel}"`);
      // Appends committed while not listening.
      void this.#check();
    } catch (e) {
      lost((e as Error).message);
    }
  }

  #heard(seq: number): void {
    for (const listener of this.#listeners) listener(seq);
  }

  /** Reads the head row; one read at a time, and one more if asked meanwhile. */
  async #check(): Promise<void> {
    if (this.#stopped) return;
    if (this.#checking) {
      this.#checkAgain = true;
      return;
    }
    this.#checking = true;
    try {
      do {
        this.#checkAgain = false;
        const seq = await this.#pool.query<{ seq: number }>(HEAD).then(
          (r) => r.rows[0]?.seq,
          () => undefined, // the database is away: the next poll tries again
        );
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() sets it while the query is awaited
        if (seq !== undefined && !this.#stopped) this.#heard(seq);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by calls made while the query was awaited
      } while (this.#checkAgain && !this.#stopped);
    } finally {
      this.#checking = false;
    }
  }
}
