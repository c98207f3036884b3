// The EventClient interface over plain HTTP (PROTOCOL.md §8): the backend for code that cannot hold a socket (a
// serverless function, a cron job). Sends with POST /api/publish; receives by pulling the durable consumer
// (POST /api/consumers/<id>/fetch, long-polled, up to `max_in_flight` at a time), acks and nacks by seq in one
// request per turn. Nothing is held open between calls; closing a receiver hands back what it holds unsettled.
import { errAsync, okAsync, type ResultAsync } from 'neverthrow';
import { timeOrderedId } from '../../util/message-id.js';
import { EventBusError } from '../errors.js';
import { BaseClient, BaseReceiver, EventMessage, eventError, fromPromise, receiverOptions, type EventConfig, type EventError, type EventReceiver, type ReceivedHandle, type SendOptions } from './interface.js';

const DEFAULT_URL = 'http://127.0.0.1:3000';
// The broker's own bounds (PROTOCOL.md §8): a fetch takes at most this many, and waits at most this long.
const MAX_FETCH = 1000;
const MAX_WAIT_MS = 30_000;
// Fetched at a time when the config's `max_in_flight` does not say.
const DEFAULT_FETCH = 10;

/** A fetched message as the API answers it (the fields read here). */
interface WireFetched {
  readonly seq: number;
  readonly payload: string;
  readonly message_id: string | null;
  readonly metadata: Record<string, unknown>;
  readonly ordering_key: string | null;
}

/** The broker's HTTP API at one address, with the token when there is one. */
class Api {
  readonly #base: URL;
  readonly #token: string | undefined;

  constructor(base: URL, token: string | undefined) {
    this.#base = base;
    this.#token = token;
  }

  /** One request; resolves with the answer's JSON, rejects with the broker's error (or UNAVAILABLE when it cannot be reached). */
  async call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`;
    let response: Response;
    try {
      response = await fetch(new URL(path, this.#base), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (e) {
      throw new EventBusError('UNAVAILABLE', `cannot reach the broker at ${this.#base.origin}`, { cause: e });
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new EventBusError('UNAVAILABLE', `${method} ${path} answered ${response.status} without JSON`);
    }
    if (response.ok) return json;
    const { code, message } = (typeof json === 'object' && json !== null ? json : {}) as { code?: unknown; message?: unknown };
    throw EventBusError.fromWire(typeof code === 'string' ? code : 'UNAVAILABLE', typeof message === 'string' ? message : `${method} ${path} answered ${response.status}`);
  }
}

export class HttpEventClient extends BaseClient {
  readonly #api: Api;

  private constructor(api: Api, config: EventConfig) {
    super(config);
    this.#api = api;
  }

  /**
   * A client of the broker at `options.url` of the config (its HTTP address, default http://127.0.0.1:3000), with
   * `options.token` if set; resolves once the broker answered (GET /healthz).
   */
  static connect(config: EventConfig): ResultAsync<HttpEventClient, EventError> {
    const url = config.options?.['url'] ?? DEFAULT_URL;
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) return errAsync(eventError('Connection', `expected an http:// or https:// url, got ${JSON.stringify(url)}`));
    const api = new Api(new URL(url), config.options?.['token']);
    return fromPromise(api.call('GET', '/healthz'), 'Connection').map(() => new HttpEventClient(api, config));
  }

  sendMessages(messages: readonly EventMessage[], options: SendOptions = {}): ResultAsync<string[], EventError> {
    const closed = this.closedError();
    if (closed !== undefined) return errAsync(closed);
    if (messages.length === 0) return okAsync([]);
    const ids = messages.map((m) => m.messageId ?? timeOrderedId());
    const time = {
      ...(options.deliverAt === undefined ? {} : { deliver_at: options.deliverAt instanceof Date ? options.deliverAt.getTime() : options.deliverAt }),
      ...(options.delayMs === undefined ? {} : { delay_ms: options.delayMs }),
    };
    const batch = messages.map((m, i) => {
      const { payload, metadata } = m.toPublish();
      return { topic: this.config.topicName, payload, metadata, message_id: ids[i], ...(m.orderingKey === undefined ? {} : { ordering_key: m.orderingKey }), ...time };
    });
    return fromPromise(this.#api.call('POST', '/api/publish', { messages: batch }), 'PublishError').map(() => ids);
  }

  /**
   * A receiver pulling the configured durable consumer. The consumer is registered for the topic (PUT) when the
   * credential may; otherwise it must exist. `from_seq` rewinds it there.
   */
  subscribe(): ResultAsync<EventReceiver, EventError> {
    const closed = this.closedError();
    if (closed !== undefined) return errAsync(closed);
    const o = receiverOptions(this.config);
    const path = `/api/consumers/${encodeURIComponent(o.consumer)}`;
    const registered = async (): Promise<void> => {
      try {
        await this.#api.call('PUT', path, { patterns: [this.config.topicName] });
      } catch (e) {
        if (!(e instanceof EventBusError && e.code === 'FORBIDDEN')) throw e;
      }
      if (o.fromSeq !== undefined) await this.#api.call('POST', `${path}/replay`, { from_seq: Math.max(1, o.fromSeq) });
    };
    const max = Math.min(MAX_FETCH, Math.max(1, o.maxInFlight ?? DEFAULT_FETCH));
    return fromPromise(registered(), 'ReceiveError').map(() => new HttpReceiver(this.config.topicName, this.#api, path, max));
  }
}

/** A class, not an object literal: held until settled, one per message (LogMessage in core/store-port.ts says why). */
class HttpHandle implements ReceivedHandle {
  constructor(
    readonly message: EventMessage,
    private readonly receiver: HttpReceiver,
    private readonly seq: number,
  ) {}

  ack(): Promise<void> {
    return this.receiver.settle('ack', this.seq, undefined);
  }

  nack(delayMs: number | undefined): Promise<void> {
    return this.receiver.settle('nack', this.seq, delayMs);
  }
}

/** Seqs settled in one turn, one request per action and delay. */
class SettleBatch {
  readonly seqs: number[] = [];
  readonly sent: Promise<void>;

  constructor(send: (seqs: readonly number[]) => Promise<void>) {
    // Sent once the turn's other settles have joined it.
    this.sent = new Promise<void>((resolve) => queueMicrotask(resolve)).then(() => send(this.seqs));
  }
}

class HttpReceiver extends BaseReceiver {
  readonly #api: Api;
  readonly #path: string;
  readonly #max: number;
  /** Fetched and not handed out yet. */
  readonly #buffer: WireFetched[] = [];
  /** Fetched and not settled (handed out or not): what close() hands back. */
  readonly #held = new Set<number>();
  readonly #batches = new Map<string, SettleBatch>();
  #fetching: Promise<void> | undefined;
  readonly #stop = new AbortController();
  #open = true;

  constructor(topic: string, api: Api, path: string, max: number) {
    super(topic);
    this.#api = api;
    this.#path = path;
    this.#max = max;
  }

  protected async nextDelivery(timeoutMs: number | undefined): Promise<ReceivedHandle | undefined> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    for (let asked = false; ; asked = true) {
      const next = this.#buffer.shift();
      if (next !== undefined) return new HttpHandle(EventMessage.fromDelivery({ ...next, messageId: next.message_id, orderingKey: next.ordering_key }), this, next.seq);
      const left = deadline - Date.now();
      if (!this.#open || (asked && left <= 0)) return undefined;
      await this.#fill(Math.max(0, Math.min(left, MAX_WAIT_MS)), deadline);
    }
  }

  /** Waits for the fetch under way, or makes one waiting up to `waitMs`; gives up at `deadline` (the fetch goes on). */
  async #fill(waitMs: number, deadline: number): Promise<void> {
    this.#fetching ??= this.#fetch(waitMs).finally(() => (this.#fetching = undefined));
    const left = deadline - Date.now();
    if (left === Infinity) return this.#fetching;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, left))));
    await Promise.race([this.#fetching, late]).finally(() => clearTimeout(timer));
  }

  async #fetch(waitMs: number): Promise<void> {
    let answer: unknown;
    try {
      answer = await this.#api.call('POST', `${this.#path}/fetch`, { max: this.#max, wait_ms: waitMs }, this.#stop.signal);
    } catch (e) {
      if (!this.#open) return;
      throw e;
    }
    for (const m of (answer as { messages: WireFetched[] }).messages) {
      this.#held.add(m.seq);
      this.#buffer.push(m);
    }
  }

  /** Acks or nacks `seq` with the others of this turn. */
  settle(action: 'ack' | 'nack', seq: number, delayMs: number | undefined): Promise<void> {
    this.#held.delete(seq);
    const key = `${action} ${delayMs ?? ''}`;
    let batch = this.#batches.get(key);
    if (batch === undefined) {
      batch = new SettleBatch(async (seqs) => {
        this.#batches.delete(key);
        await this.#api.call('POST', `${this.#path}/${action}`, delayMs === undefined ? { seqs } : { seqs, delay_ms: delayMs });
      });
      this.#batches.set(key, batch);
    }
    batch.seqs.push(seq);
    return batch.sent;
  }

  isConnected(): boolean {
    return this.#open;
  }

  /** Stops fetching, and hands back what it holds unsettled, to be delivered again at once. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.#stop.abort();
    await this.#fetching?.catch(() => undefined);
    this.#buffer.length = 0;
    const held = [...this.#held];
    this.#held.clear();
    if (held.length > 0) await this.#api.call('POST', `${this.#path}/nack`, { seqs: held, delay_ms: 0 }).catch(() => undefined);
  }
}
