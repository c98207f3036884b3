// Request/reply on top of publish and subscribe: a request waits on a one-off inbox topic named
// in its reply_to metadata, and a reply is published there. Needs only the broker's public API.
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, ResultAsync, type Result } from 'neverthrow';
import { brokerError } from '../errors.js';
import { messageMetadata, type PublishError } from './publish-input.js';
import type { SubscribeError } from './subscribe-options.js';
import type { Delivery, Published, PublishInput, Sink, StoredMessage } from './types.js';

// A reply inbox outlives the request by this much, so a late reply still has a topic to land on.
const REPLY_TTL_SECONDS = 60;

/** The part of the Broker a request needs; structural, so this module does not import broker.ts. */
export interface PubSub {
  publish(input: PublishInput): ResultAsync<Published, PublishError>;
  subscribe(options: { pattern: string }, sink: Sink): ResultAsync<{ subscriptionId: string }, SubscribeError>;
  unsubscribe(subscriptionId: string): unknown;
}

export interface RequestOptions {
  timeoutMs: number;
  metadata?: Record<string, unknown>;
}

/** Publishes a request and resolves with the first reply. */
export function sendRequest(
  bus: PubSub,
  topic: string,
  payload: string,
  options: RequestOptions,
): ResultAsync<StoredMessage, PublishError | SubscribeError> {
  const inbox = `_inbox.${randomUUID()}`;
  let settle: (r: Result<StoredMessage, PublishError | SubscribeError>) => void = () => {};
  const reply = new Promise<Result<StoredMessage, PublishError | SubscribeError>>((resolve) => (settle = resolve));
  const sink: Sink = {
    deliver: (d: Delivery) => {
      settle(ok(d.message));
      return true;
    },
  };
  const ttlSeconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
  return bus.subscribe({ pattern: inbox }, sink).andThen(({ subscriptionId }) => {
    const timer = setTimeout(
      () => settle(err(brokerError('UNAVAILABLE', `no reply to ${topic} within ${options.timeoutMs} ms`))),
      options.timeoutMs,
    );
    void bus.publish({ topic, payload, ttlSeconds, metadata: { ...options.metadata, reply_to: inbox } }).mapErr((e) => settle(err(e)));
    return new ResultAsync(
      reply.finally(() => {
        clearTimeout(timer);
        bus.unsubscribe(subscriptionId);
      }),
    );
  });
}

/** Answers a request received by a subscriber. */
export function sendReply(
  bus: PubSub,
  request: StoredMessage,
  payload: string,
  metadata?: Record<string, unknown>,
): ResultAsync<Published, PublishError> {
  const replyTo = messageMetadata(request.metadata)['reply_to'];
  if (typeof replyTo !== 'string') return errAsync(brokerError('BAD_ARGS', `message ${request.seq} is not a request (no reply_to)`));
  return bus.publish({ topic: replyTo, payload, ttlSeconds: REPLY_TTL_SECONDS, metadata });
}
