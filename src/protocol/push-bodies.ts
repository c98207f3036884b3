// What push delivery writes for each message (PROTOCOL.md §4), apart from ws://, which sends the WebSocket
// API's `message` frame (ws-frames.ts). Pure.
import type { StoredMessage } from '../core/types.js';

/**
 * The http:// POST body `{"seq","topic","payload","message_id","metadata","delivery"}`. The stored metadata
 * is already JSON text: spliced in as it is rather than parsed and serialised again.
 */
export const httpPushBody = (m: StoredMessage, delivery: number): string =>
  `{"seq":${m.seq},"topic":${JSON.stringify(m.topic)},"payload":${JSON.stringify(m.payload)},` +
  `"message_id":${JSON.stringify(m.messageId)},"metadata":${m.metadata},"delivery":${delivery}}`;

/** A tcp:// line: the payload and a newline. */
export const tcpPushLine = (m: StoredMessage): string => `${m.payload}\n`;
