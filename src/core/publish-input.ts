// Turns a PublishInput into a row the committer can append: topic, size, id, TTL and metadata checks,
// each failure a BrokerError a front-end can put on the wire. Pure.
import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import type { PendingRow } from './committer.js';
import { checkTopic } from '../protocol/topics.js';
import type { PublishInput } from './types.js';

export type PublishError = BrokerError<'BAD_TOPIC' | 'TOO_LARGE' | 'BAD_ARGS' | 'UNAVAILABLE'>;

export interface PublishLimits {
  readonly maxPayloadBytes: number;
  readonly defaultTtlSeconds: number;
}

const DEFAULT_METADATA = '{"content_type":"text/plain"}';
const MAX_ID_BYTES = 255;
// The ttl column is a 32-bit integer on PostgreSQL (68 years of seconds), and a log must move between the stores whole.
const MAX_TTL_SECONDS = 2 ** 31 - 1;

// PostgreSQL's text cannot hold U+0000, so neither store takes it: a log must move between them whole.
// Metadata is stored as JSON text, where it is escaped, so only the raw text columns are checked.
const NUL = '\u0000';
const holdsNul = (field: string, value: string | null): PublishError | undefined =>
  value !== null && value.includes(NUL) ? brokerError('BAD_ARGS', `${field} holds U+0000, which the log does not store`) : undefined;

export function toPendingRow(input: PublishInput, limits: PublishLimits): Result<PendingRow, PublishError> {
  const topic = checkTopic(input.topic);
  if (topic.isErr()) return err(topic.error);
  if (typeof input.payload !== 'string') return err(brokerError('BAD_ARGS', 'payload must be a string'));
  // Byte length only matters near the limit; a UTF-16 string never has more than 3 bytes per unit.
  if (input.payload.length * 3 > limits.maxPayloadBytes) {
    const bytes = Buffer.byteLength(input.payload);
    if (bytes > limits.maxPayloadBytes) {
      return err(brokerError('TOO_LARGE', `payload is ${bytes} bytes; the limit is ${limits.maxPayloadBytes}`));
    }
  }
  const messageId = input.messageId ?? null;
  if (messageId !== null && (typeof messageId !== 'string' || messageId === '' || Buffer.byteLength(messageId) > MAX_ID_BYTES)) {
    return err(brokerError('BAD_ARGS', `message_id must be a string of 1 to ${MAX_ID_BYTES} bytes`));
  }
  const ttl = input.ttlSeconds ?? limits.defaultTtlSeconds;
  if (!Number.isSafeInteger(ttl) || ttl < 0 || ttl > MAX_TTL_SECONDS) {
    return err(brokerError('BAD_ARGS', `ttl must be a whole number of seconds from 0 to ${MAX_TTL_SECONDS}`));
  }
  const orderingKey = input.orderingKey ?? null;
  if (orderingKey !== null && typeof orderingKey !== 'string') return err(brokerError('BAD_ARGS', 'ordering_key must be a string'));
  const nul = holdsNul('payload', input.payload) ?? holdsNul('message_id', messageId) ?? holdsNul('ordering_key', orderingKey);
  if (nul !== undefined) return err(nul);
  const metadataTail = metadataTailOf(input.metadata);
  if (metadataTail.isErr()) return err(metadataTail.error);
  return ok({ topic: input.topic, payload: input.payload, messageId, metadataTail: metadataTail.value, ttlSeconds: ttl, orderingKey });
}

/** The stored metadata minus the broker's timestamp: content_type first, then the publisher's attributes. */
function metadataTailOf(metadata: unknown): Result<string, PublishError> {
  if (metadata === undefined || metadata === null) return ok(DEFAULT_METADATA);
  if (typeof metadata !== 'object' || Array.isArray(metadata)) return err(brokerError('BAD_ARGS', 'metadata must be a JSON object'));
  const { timestamp: _, content_type: contentType, ...attributes } = metadata as Record<string, unknown>;
  if (contentType !== undefined && typeof contentType !== 'string') return err(brokerError('BAD_ARGS', 'metadata.content_type must be a string'));
  return ok(JSON.stringify({ content_type: contentType ?? 'text/plain', ...attributes }));
}

/** The parsed metadata of a stored message. */
export function messageMetadata(metadata: string): Record<string, unknown> {
  return JSON.parse(metadata) as Record<string, unknown>;
}
