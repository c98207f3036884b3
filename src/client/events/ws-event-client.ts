// The EventClient interface over the WebSocket API: the backend for services in other processes. Reconnects
// and resumes as the client SDK does (src/client).
import { timeOrderedId } from '../../util/message-id.js';
import { okAsync, type ResultAsync } from 'neverthrow';
import { connect, type EventBusClient } from '../client.js';
import type { ConnectOptions } from '../options.js';
import type { ReceivedMessage, Subscription } from '../subscription.js';
import { BaseReceiver, EventMessage, fromPromise, receiverOptions, type EventClient, type EventConfig, type EventError, type EventReceiver, type ReceivedHandle, type SendOptions } from './interface.js';

const DEFAULT_URL = 'ws://127.0.0.1:3000/ws';

const orderingOf = (m: EventMessage): { orderingKey?: string } => (m.orderingKey === undefined ? {} : { orderingKey: m.orderingKey });
// Only the fields given: an absent time must not reach the wire as a field.
const timeOf = (o: SendOptions): { deliverAt?: number | Date; delayMs?: number } => ({
  ...(o.deliverAt === undefined ? {} : { deliverAt: o.deliverAt }),
  ...(o.delayMs === undefined ? {} : { delayMs: o.delayMs }),
});

export class WsEventClient implements EventClient {
  readonly #client: EventBusClient;
  readonly #config: EventConfig;

  private constructor(client: EventBusClient, config: EventConfig) {
    this.#client = client;
    this.#config = config;
  }

  /** Connects to `options.url` of the config (default ws://127.0.0.1:3000/ws), with `options.token` if set. */
  static connect(config: EventConfig, options: ConnectOptions = {}): ResultAsync<WsEventClient, EventError> {
    const token = config.options?.['token'];
    const url = config.options?.['url'] ?? DEFAULT_URL;
    return fromPromise(connect(url, token === undefined ? options : { token, ...options }), 'Connection').map((c) => new WsEventClient(c, config));
  }

  sendMessage(message: EventMessage, options: SendOptions = {}): ResultAsync<string, EventError> {
    const id = message.messageId ?? timeOrderedId();
    const { payload, metadata } = message.toPublish();
    const publish = { messageId: id, metadata, ...orderingOf(message), ...timeOf(options) };
    return fromPromise(this.#client.publish(this.#config.topicName, payload, publish), 'PublishError').map(() => id);
  }

  sendMessages(messages: readonly EventMessage[], options: SendOptions = {}): ResultAsync<string[], EventError> {
    if (messages.length === 0) return okAsync([]);
    const ids = messages.map((m) => m.messageId ?? timeOrderedId());
    const time = timeOf(options);
    const batch = messages.map((m, i) => {
      const { payload, metadata } = m.toPublish();
      return { topic: this.#config.topicName, payload, metadata, messageId: ids[i]!, ...orderingOf(m), ...time };
    });
    return fromPromise(this.#client.publishBatch(batch), 'PublishError').map(() => ids);
  }

  subscribe(): ResultAsync<EventReceiver, EventError> {
    return fromPromise(this.#client.subscribe(this.#config.topicName, receiverOptions(this.#config)), 'ReceiveError').map(
      (sub) => new WsReceiver(this.#config.topicName, sub, this.#client),
    );
  }

  isConnected(): boolean {
    return this.#client.isConnected;
  }

  topicName(): string {
    return this.#config.topicName;
  }

  projectId(): string {
    return this.#config.projectId ?? '';
  }

  close(): Promise<void> {
    this.#client.close();
    return Promise.resolve();
  }
}

/** A class, not an object literal: held until settled, one per message (LogMessage in core/store-port.ts says why). */
class WsHandle implements ReceivedHandle {
  constructor(
    readonly message: EventMessage,
    private readonly received: ReceivedMessage,
  ) {}

  ack(): void {
    this.received.ack();
  }

  nack(delayMs: number | undefined): void {
    this.received.nack(delayMs);
  }
}

class WsReceiver extends BaseReceiver {
  readonly #sub: Subscription;
  readonly #client: EventBusClient;
  #open = true;

  constructor(topic: string, sub: Subscription, client: EventBusClient) {
    super(topic);
    this.#sub = sub;
    this.#client = client;
  }

  protected async nextDelivery(timeoutMs: number | undefined): Promise<ReceivedHandle | undefined> {
    const m = await this.#sub.next(timeoutMs);
    if (m === undefined) return undefined;
    return new WsHandle(EventMessage.fromDelivery(m), m);
  }

  isConnected(): boolean {
    return this.#open && this.#client.isConnected;
  }

  close(): Promise<void> {
    this.#open = false;
    return this.#sub.close();
  }
}
