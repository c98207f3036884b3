// The transport server's publish lines (PROTOCOL.md §3) → PublishInput: `event_name:msg`, or a JSON object
// {"event_name","msg","message_id"?,"ttl"?,"metadata"?,"ordering_key"?,"deliver_at"?,"delay_ms"?}. Topic
// rules and times are the broker's to check; this module only reads the line. Pure.
import { err, ok, type Result } from 'neverthrow';
import type { PublishInput, PublishTime } from '../core/types.js';
import { brokerError, type BrokerError } from '../errors.js';

export type IngressError = BrokerError<'BAD_FORMAT'>;

const badFormat = (reason: string): Result<never, IngressError> => err(brokerError('BAD_FORMAT', reason));

/** A publish line; `time` when the JSON form gives deliver_at or delay_ms (PROTOCOL.md §11). */
export interface PublishLine extends PublishInput {
  readonly time?: PublishTime;
}

export function parsePublishLine(line: string): Result<PublishLine, IngressError> {
  if (line.trim() === '') return badFormat('empty line: expected event_name:msg or a JSON object');
  // No topic starts with '{', '[' or white space: such a line can only be meant as JSON.
  const first = line.trimStart().charAt(0);
  if (first === '{' || first === '[') return parseJsonLine(line);
  const colon = line.indexOf(':');
  if (colon < 0) return badFormat('expected event_name:msg or a JSON object');
  return ok({ topic: line.slice(0, colon), payload: line.slice(colon + 1) });
}

function parseJsonLine(line: string): Result<PublishLine, IngressError> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    return badFormat(`invalid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return badFormat('expected a JSON object');
  const o = value as Record<string, unknown>;
  if (typeof o['event_name'] !== 'string') return badFormat('"event_name" must be a string');
  if (!('msg' in o)) return badFormat('"msg" is missing');
  const msg = o['msg'];
  const messageId = o['message_id'];
  if (messageId !== undefined && typeof messageId !== 'string') return badFormat('"message_id" must be a string');
  const ttl = o['ttl'];
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 0)) {
    return badFormat('"ttl" must be a whole number of seconds, 0 or more');
  }
  const metadata = o['metadata'];
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
    return badFormat('"metadata" must be a JSON object');
  }
  const orderingKey = o['ordering_key'];
  if (orderingKey !== undefined && typeof orderingKey !== 'string') return badFormat('"ordering_key" must be a string');
  const deliverAt = o['deliver_at'];
  if (deliverAt !== undefined && typeof deliverAt !== 'number' && typeof deliverAt !== 'string') return badFormat('"deliver_at" must be ms since the epoch or an ISO 8601 time');
  const delayMs = o['delay_ms'];
  if (delayMs !== undefined && typeof delayMs !== 'number') return badFormat('"delay_ms" must be a number of ms');
  // A msg that is not a string is stored as its JSON text, and says so in its content type.
  const isText = typeof msg === 'string';
  const given = metadata as Record<string, unknown> | undefined;
  const input: PublishInput = {
    topic: o['event_name'],
    payload: isText ? msg : JSON.stringify(msg),
    messageId,
    ttlSeconds: ttl,
    orderingKey,
    metadata: isText || given?.['content_type'] !== undefined ? given : { ...given, content_type: 'application/json' },
  };
  return ok(deliverAt === undefined && delayMs === undefined ? input : { ...input, time: { deliverAt, delayMs } });
}
