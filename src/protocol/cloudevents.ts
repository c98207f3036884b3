// CloudEvents 1.0 over HTTP into the log (PROTOCOL.md §13): binary mode (the attributes as `ce-` headers, the
// body the data), structured mode (`application/cloudevents+json`) and batch mode
// (`application/cloudevents-batch+json`), each event a publish: the topic the `topic` query parameter or else
// the event's `type`, its `id` the message_id (a repeated event is stored once), `datacontenttype` the
// content type, and the other attributes and extensions kept in `metadata.cloudevents`. And out of it: a message
// as a structured CloudEvent (SSE `format=cloudevents`) or a binary-mode one (a push consumer's `"format":
// "cloudevents"`), both from one mapping of its attributes. Pure: no I/O.
import { err, ok, type Result } from 'neverthrow';
import type { PublishInput, StoredMessage } from '../core/types.js';
import { brokerError, type BrokerError } from '../errors.js';
import { checkTopic } from './topics.js';
import { parseTraceContext } from './trace-context.js';

export const STRUCTURED = 'application/cloudevents+json';
export const BATCH = 'application/cloudevents-batch+json';

export type CloudEventMode = 'binary' | 'structured' | 'batch';
export type CloudEventError = BrokerError<'BAD_ARGS' | 'BAD_TOPIC' | 'BAD_FORMAT'>;

// The attributes a publish takes apart; every other one (source, time, subject, extensions…) is kept as given.
const MAPPED = new Set(['specversion', 'id', 'type', 'datacontenttype', 'data', 'data_base64']);
// Attribute names (CloudEvents 1.0 §3.1.1): lower-case letters and digits.
const ATTRIBUTE = /^[a-z0-9]{1,20}$/;

/** How a POST /api/publish carries CloudEvents, or undefined when it is an ordinary publish body. */
export function cloudEventMode(contentType: string | undefined, specversionHeader: string | undefined): CloudEventMode | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === STRUCTURED) return 'structured';
  if (type === BATCH) return 'batch';
  return specversionHeader === undefined ? undefined : 'binary';
}

/** A binary-mode event: its attributes from the `ce-` headers (lower-case names), the body its data. */
export function fromBinary(headers: Readonly<Record<string, string>>, contentType: string | undefined, body: string, topic: string | undefined): Result<PublishInput, CloudEventError> {
  const attributes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('ce-')) continue;
    // Header values are percent-encoded where they would not fit (CloudEvents HTTP binding §3.1.3.2).
    try {
      attributes[name.slice(3)] = decodeURIComponent(value);
    } catch {
      attributes[name.slice(3)] = value;
    }
  }
  if (contentType !== undefined) attributes['datacontenttype'] = contentType;
  return toPublish(attributes, body, topic);
}

/** A structured-mode event, or one of a batch: the JSON object with its attributes and data. */
export function fromStructured(event: unknown, topic: string | undefined): Result<PublishInput, CloudEventError> {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return err(brokerError('BAD_FORMAT', 'a structured CloudEvent is a JSON object'));
  const attributes = event as Record<string, unknown>;
  let payload: string;
  if (attributes['data_base64'] !== undefined) {
    if (typeof attributes['data_base64'] !== 'string') return err(brokerError('BAD_ARGS', 'data_base64 must be a string'));
    const bytes = Buffer.from(attributes['data_base64'], 'base64');
    payload = bytes.toString('utf8');
    // The log holds text: bytes that are not UTF-8 would come back changed.
    if (!Buffer.from(payload, 'utf8').equals(bytes)) return err(brokerError('BAD_ARGS', 'data_base64 must hold UTF-8 text: the log keeps payloads as text'));
  } else {
    const data = attributes['data'];
    payload = data === undefined ? '' : typeof data === 'string' ? data : JSON.stringify(data);
  }
  const withType = attributes['data'] !== undefined && typeof attributes['data'] !== 'string' && attributes['datacontenttype'] === undefined ? { ...attributes, datacontenttype: 'application/json' } : attributes;
  return toPublish(withType, payload, topic);
}

/** A batch's events, each as fromStructured takes it. */
export function fromBatch(events: unknown, topic: string | undefined): Result<PublishInput[], CloudEventError> {
  if (!Array.isArray(events)) return err(brokerError('BAD_FORMAT', 'a CloudEvents batch is a JSON array of events'));
  if (events.length === 0) return err(brokerError('BAD_ARGS', 'a CloudEvents batch holds at least one event'));
  const inputs: PublishInput[] = [];
  for (const [i, event] of events.entries()) {
    const input = fromStructured(event, topic);
    if (input.isErr()) return err(brokerError(input.error.code, `event ${i}: ${input.error.message}`));
    inputs.push(input.value);
  }
  return ok(inputs);
}

function toPublish(attributes: Record<string, unknown>, payload: string, topicParam: string | undefined): Result<PublishInput, CloudEventError> {
  const { specversion, id, type } = attributes;
  if (specversion !== '1.0') return err(brokerError('BAD_ARGS', `specversion must be "1.0" (got ${JSON.stringify(specversion ?? null)})`));
  for (const [name, value] of [['id', id], ['source', attributes['source']], ['type', type]] as const) {
    if (typeof value !== 'string' || value === '') return err(brokerError('BAD_ARGS', `a CloudEvent needs a non-empty ${name}`));
  }
  const badName = Object.keys(attributes).find((name) => !ATTRIBUTE.test(name) && name !== 'data_base64');
  if (badName !== undefined) return err(brokerError('BAD_ARGS', `${JSON.stringify(badName)} is not a CloudEvents attribute name (lower-case letters and digits, at most 20)`));
  const topic = checkTopic(topicParam ?? (type as string));
  if (topic.isErr()) return err(brokerError('BAD_TOPIC', `${topic.error.message}${topicParam === undefined ? ' (the topic is the event\'s type unless ?topic= says)' : ''}`));
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(attributes)) if (!MAPPED.has(name)) kept[name] = value;
  const contentType = attributes['datacontenttype'];
  // The distributed tracing extension's traceparent is the message's trace context (§13's trace context).
  const context = parseTraceContext(stringOf(attributes['traceparent']), stringOf(attributes['tracestate']));
  const metadata: Record<string, unknown> = { cloudevents: kept, ...(typeof contentType === 'string' ? { content_type: contentType } : {}), ...context };
  return ok({ topic: topic.value, payload, messageId: id as string, metadata });
}

const stringOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The broker as a CloudEvent's `source`: its EVENTBUS_NODE_ID as a URI reference. */
export const eventSource = (nodeId: string): string => encodeURIComponent(nodeId);

/**
 * A message of the log as a CloudEvent, as §13 maps it out, data aside: `id` the message_id or `eventbus-<seq>`,
 * `source` the broker, `type` the topic, `time` its commit, `datacontenttype` its content type, the `sequence`
 * extension its seq, and its trace context. Both modes out (structured for SSE, binary for a push) take these.
 */
function contextOf(message: StoredMessage, source: string): Record<string, string> {
  const metadata = JSON.parse(message.metadata) as Record<string, unknown>;
  const attributes: Record<string, string> = {
    specversion: '1.0',
    id: message.messageId ?? `eventbus-${message.seq}`,
    source,
    type: message.topic,
    time: new Date(message.createdAt).toISOString(),
    datacontenttype: stringOf(metadata['content_type']) ?? 'text/plain',
    sequence: String(message.seq),
  };
  const context = parseTraceContext(stringOf(metadata['traceparent']), stringOf(metadata['tracestate']));
  if (context !== undefined) Object.assign(attributes, context);
  return attributes;
}

/** A message of the log as a structured CloudEvent (contextOf's attributes): JSON data as JSON, any other as the text it is. */
export function toStructured(message: StoredMessage, source: string): Record<string, unknown> {
  const event: Record<string, unknown> = contextOf(message, source);
  event['data'] = isJson(event['datacontenttype'] as string) ? jsonOrText(message.payload) : message.payload;
  return event;
}

export interface BinaryEvent {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * A message of the log as a binary-mode CloudEvent (contextOf's attributes): each attribute a `ce-` header, but
 * `datacontenttype`, which is the `content-type`; the body the payload's bytes (JSON data is its JSON text).
 */
export function toBinary(message: StoredMessage, source: string): BinaryEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(contextOf(message, source))) {
    if (name === 'datacontenttype') headers['content-type'] = HEADER_TEXT.test(value) ? value : 'application/octet-stream';
    else headers[`ce-${name}`] = percentEncoded(value);
  }
  return { headers, body: Buffer.from(message.payload, 'utf8') };
}

// What an HTTP header value may hold as it is (RFC 9110 §5.5, without obs-text). A content type a publisher gave
// with anything else would make every request of the push fail before it is sent, so it goes as plain bytes.
const HEADER_TEXT = /^[\x20-\x7e\t]*$/;

/**
 * A header value as the HTTP binding has it (§3.1.3.2): space, `"`, `%` and every character outside printable
 * US-ASCII percent-encoded as UTF-8, so a receiver's one round of decoding gives the attribute back (fromBinary's
 * decodeURIComponent does). A lone surrogate goes as U+FFFD, what its UTF-8 would be anyway.
 */
function percentEncoded(value: string): string {
  return value.replace(/[^\x21\x23\x24\x26-\x7e]/gu, (c) => Array.from(Buffer.from(c, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

const isJson = (contentType: string): boolean => /^application\/([\w.+-]+\+)?json\b/i.test(contentType);

function jsonOrText(payload: string): unknown {
  try {
    return JSON.parse(payload);
  } catch {
    return payload;
  }
}
