// The push consumers of every registered address (the delivery pool): kept in step with the
// registrations by sync(), stopped together, and able to send one message straight to chosen targets
// (forwardTo / forwardToAll / forwardToMany) with a result per target.
import { err, type Result } from 'neverthrow';
import type { Logger } from '../logger.js';
import { parseAddress } from '../protocol/address.js';
import { eventSource } from '../protocol/cloudevents.js';
import type { HttpPushFormat } from '../protocol/push-bodies.js';
import { DEFAULT_PUSH_FORMAT, type PushFormat } from '../protocol/push-format.js';
import type { BackoffPolicy } from './backoff.js';
import type { StoredMessage } from '../core/types.js';
import { deliveryError, type ClientTimeouts, type DeliveryError, type PushClient } from './client.js';
import { createClient } from './factory.js';
import { HttpClient } from './http.js';
import { PushConsumer, type PushHost, type PushState } from './push-consumer.js';

export interface PoolOptions {
  readonly timeouts: ClientTimeouts;
  /** The CAs https:// and wss:// endpoints are checked against (EVENTBUS_PUSH_CA); Node's default store when absent. */
  readonly ca?: readonly string[] | undefined;
  readonly backoff: BackoffPolicy;
  readonly now: () => number;
  /** While a consumer keeps failing, at most one log line per this long. */
  readonly failureLogIntervalMs: number;
  /** EVENTBUS_NODE_ID: the broker, the `source` of the CloudEvents pushed to consumers of format cloudevents. */
  readonly nodeId: string;
}

export class DeliveryPool {
  readonly #host: PushHost;
  readonly #options: PoolOptions;
  readonly #log: Logger;
  readonly #consumers = new Map<string, { consumer: PushConsumer; client: PushClient; format: PushFormat }>();

  constructor(host: PushHost, options: PoolOptions, logger: Logger) {
    this.#host = host;
    this.#options = options;
    this.#log = logger.child({ component: 'delivery' });
  }

  /** Makes the pool match a consumer's current address and format: starts, replaces or stops its push consumer. */
  async sync(id: string, address: string | null, format: PushFormat = DEFAULT_PUSH_FORMAT): Promise<void> {
    const current = this.#consumers.get(id);
    if (current !== undefined && current.client.address === address && current.format === format) return;
    if (current !== undefined) {
      this.#consumers.delete(id);
      await current.consumer.close();
    }
    if (address === null) return;
    const parsed = parseAddress(address);
    if (parsed.isErr()) {
      this.#log.error('stored consumer has an unusable address; not delivering to it', { consumer: id, reason: parsed.error.message });
      return;
    }
    const push: HttpPushFormat = format === 'cloudevents' ? { format, source: eventSource(this.#options.nodeId) } : { format };
    const client = createClient(id, parsed.value, this.#options.timeouts, { ca: this.#options.ca }, push);
    // http(s) sends one at a time to keep its requests in order; the others as many as the consumer's window.
    const maxInFlight = client instanceof HttpClient ? 1 : undefined;
    const consumer = new PushConsumer(id, client, this.#host, { ...this.#options, maxInFlight }, this.#log);
    this.#consumers.set(id, { consumer, client, format });
    consumer.start();
  }

  /** `connected`, `retrying` or `offline`; undefined for a consumer the pool does not push to. */
  state(id: string): PushState | undefined {
    return this.#consumers.get(id)?.consumer.state;
  }

  /** Sends one message straight to one consumer's endpoint, outside the log, as a first delivery. */
  async forwardTo(id: string, message: StoredMessage): Promise<Result<void, DeliveryError>> {
    const entry = this.#consumers.get(id);
    if (entry === undefined) return err(deliveryError(`no push consumer ${id}`, false));
    return await entry.client.send(message, 1);
  }

  forwardToMany(ids: readonly string[], message: StoredMessage): Promise<Map<string, Result<void, DeliveryError>>> {
    return Promise.all(ids.map(async (id) => [id, await this.forwardTo(id, message)] as const)).then((rs) => new Map(rs));
  }

  forwardToAll(message: StoredMessage): Promise<Map<string, Result<void, DeliveryError>>> {
    return this.forwardToMany([...this.#consumers.keys()], message);
  }

  async stop(): Promise<void> {
    const all = [...this.#consumers.values()];
    this.#consumers.clear();
    await Promise.all(all.map(({ consumer }) => consumer.close()));
  }
}
