// What push delivery writes for each message (PROTOCOL.md §4, §13), apart from ws://, which sends the WebSocket
// API's `message` frame (ws-frames.ts). Pure.
import type { StoredMessage } from '../core/types.js';
import { unreachable } from '../errors.js';
import { toBinary } from './cloudevents.js';
import { traceHeaders } from './trace-context.js';

/**
 * The http:// POST body `{"seq","topic","payload","message_id","metadata","delivery"}`. The stored metadata
 * is already JSON text: spliced in as it is rather than parsed and serialised again.
 */
export const httpPushBody = (m: StoredMessage, delivery: number): string =>
  `{"seq":${m.seq},"topic":${JSON.stringify(m.topic)},"payload":${JSON.stringify(m.payload)},` +
  `"message_id":${JSON.stringify(m.messageId)},"metadata":${m.metadata},"delivery":${delivery}}`;

/** A push consumer's format (push-format.ts) with what it needs to write a request: a CloudEvent's `source`. */
export type HttpPushFormat = { readonly format: 'eventbus' } | { readonly format: 'cloudevents'; readonly source: string };

export interface HttpPushRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
}

/**
 * One http(s) push of a message in the consumer's format: the JSON body above, or a binary-mode CloudEvent.
 * Either carries the message's trace context as W3C headers too, for the tracing of whatever receives it.
 */
export function httpPushRequest(push: HttpPushFormat, m: StoredMessage, delivery: number): HttpPushRequest {
  switch (push.format) {
    case 'eventbus':
      return { headers: { 'content-type': 'application/json', ...traceHeaders(m.metadata) }, body: httpPushBody(m, delivery) };
    case 'cloudevents': {
      const event = toBinary(m, push.source);
      return { headers: { ...event.headers, ...traceHeaders(m.metadata) }, body: event.body };
    }
    default:
      return unreachable(push);
  }
}

/** A tcp:// line: the payload and a newline. */
export const tcpPushLine = (m: StoredMessage): string => `${m.payload}\n`;
