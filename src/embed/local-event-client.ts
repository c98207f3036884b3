// The EventClient interface over the in-process broker: the backend for code that embeds eventbus. Same
// behaviour as the WebSocket backend, without a socket in between.
import { timeOrderedId } from '../util/message-id.js';
import { errAsync, okAsync, type ResultAsync } from 'neverthrow';
import type { Broker } from '../core/broker.js';
import { LocalSubscriber } from './local-subscriber.js';
import { messageMetadata } from '../core/publish-input.js';
import type { PublishInput } from '../core/types.js';
import type { BrokerError } from '../errors.js';
import { BaseClient, BaseReceiver, EventMessage, eventError, receiverOptions, type EventConfig, type EventError, type EventErrorKind, type EventReceiver, type ReceivedHandle, type SendOptions } from '../client/events/interface.js';

const asEventError = (kind: EventErrorKind) => (e: BrokerError) => eventError(kind, e.message, e.code);

export class LocalEventClient extends BaseClient {
  readonly #broker: Broker;

  constructor(broker: Broker, config: EventConfig) {
    super(config);
    this.#broker = broker;
  }

  sendMessages(messages: readonly EventMessage[], options: SendOptions = {}): ResultAsync<string[], EventError> {
    const closed = this.closedError();
    if (closed !== undefined) return errAsync(closed);
    if (messages.length === 0) return okAsync([]);
    const ids = messages.map((m) => m.messageId ?? timeOrderedId());
    const inputs: PublishInput[] = messages.map((m, i) => ({ topic: this.config.topicName, ...m.toPublish(), messageId: ids[i], orderingKey: m.orderingKey }));
    if (options.deliverAt === undefined && options.delayMs === undefined) {
      return this.#broker.publishBatch(inputs).map(() => ids).mapErr(asEventError('PublishError'));
    }
    const time = { deliverAt: options.deliverAt instanceof Date ? options.deliverAt.getTime() : options.deliverAt, delayMs: options.delayMs };
    return this.#broker
      .publishBatchLater(inputs.map((input) => ({ input, time })))
      .map(() => ids)
      .mapErr(asEventError('PublishError'));
  }

  subscribe(): ResultAsync<EventReceiver, EventError> {
    const closed = this.closedError();
    if (closed !== undefined) return errAsync(closed);
    const o = receiverOptions(this.config);
    const start = o.fromSeq === undefined ? undefined : { kind: 'seq' as const, seq: o.fromSeq };
    return LocalSubscriber.open(this.#broker, { pattern: this.config.topicName, consumer: o.consumer, group: o.group, maxInFlight: o.maxInFlight, start })
      .map((sub) => new LocalReceiver(this.config.topicName, sub) as EventReceiver)
      .mapErr(asEventError('ReceiveError'));
  }
}

/** A class, not an object literal, as LogMessage (core/store-port.ts) says why: held until settled, one per message. */
class LocalHandle implements ReceivedHandle {
  constructor(
    readonly message: EventMessage,
    private readonly sub: LocalSubscriber,
    private readonly seq: number,
  ) {}

  ack(): void {
    this.sub.ack(this.seq);
  }

  nack(delayMs: number | undefined): void {
    this.sub.nack(this.seq, delayMs);
  }
}

class LocalReceiver extends BaseReceiver {
  readonly #sub: LocalSubscriber;
  #open = true;

  constructor(topic: string, sub: LocalSubscriber) {
    super(topic);
    this.#sub = sub;
  }

  protected async nextDelivery(timeoutMs: number | undefined): Promise<ReceivedHandle | undefined> {
    const d = await this.#sub.next(timeoutMs);
    if (d === undefined) return undefined;
    const m = d.message;
    return new LocalHandle(EventMessage.fromDelivery({ ...m, metadata: messageMetadata(m.metadata) }), this.#sub, m.seq);
  }

  isConnected(): boolean {
    return this.#open;
  }

  close(): Promise<void> {
    this.#open = false;
    this.#sub.close();
    return Promise.resolve();
  }
}
