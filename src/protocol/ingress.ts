// The transport server's publish lines (PROTOCOL.md §3) → PublishInput: `event_name:msg`, or a JSON object
// {"event_name","msg","message_id"?,"ttl"?,"metadata"?,"ordering_key"?}. Topic rules are the broker's to
// check; this module only reads the line. Pure.
import { err, ok, type Result } from 'neverthrow';
import type { PublishInput } from '../core/types.js';
import { brokerError, type BrokerError } from '../errors.js';

export type IngressError = BrokerError<'BAD_FORMAT'>;

const badFormat = (reason: string): Result<never, IngressError> => err(brokerError('BAD_FORMAT', reason));

export function parsePublishLine(line: string): Result<PublishInput, IngressError> {
  if (line.trim() === '') return badFormat('empty line: expected event_name:msg or a JSON object');
  // No topic starts with '{', '[' or white space: such a line can only be meant as JSON.
  const first = line.trimStart().charAt(0);
  if (first === '{' || first === '[') return parseJsonLine(line);
  const colon = line.indexOf(':');
  if (colon < 0) return badFormat('expected event_name:msg or a JSON object');
  return ok({ topic: line.slice(0, colon), payload: line.slice(colon + 1) });
}

function parseJsonLine(line: string): Result<PublishInput, IngressError> {
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
  // A msg that is not a string is stored as its JSON text, and says so in its content type.
  const isText = typeof msg === 'string';
  const given = metadata as Record<string, unknown> | undefined;
  return ok({
    topic: o['event_name'],
    payload: isText ? msg : JSON.stringify(msg),
    messageId,
    ttlSeconds: ttl,
    orderingKey,
    metadata: isText || given?.['content_type'] !== undefined ? given : { ...given, content_type: 'application/json' },
  });
}
