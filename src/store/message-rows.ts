// A message as both stores read it back: the columns in the order they select them, and the raw (array) row
// made a LogMessage. Arrays rather than row objects: better-sqlite3 builds row objects far slower than
// arrays plus a constructor call, and node-postgres reads arrays (rowMode 'array') as cheaply.
import { LogMessage, type MessageRecord, type MessageStatus, type StoredMessage } from '../core/store-port.js';

export const MESSAGE_COLUMNS = `seq, message_id, topic, payload, metadata, ttl, ordering_key, created_at`;
/**
 * The status column as an index of STATUS_BY_CODE: a small integer costs the read nothing, a string one allocation per
 * row, which shows in a catch-up reading hundreds of thousands a second. (A value the schema does not know reads as pending.)
 */
export const STATUS_CODE = `CASE status WHEN 'processed' THEN 1 WHEN 'dead' THEN 2 ELSE 0 END`;
const STATUS_BY_CODE: readonly MessageStatus[] = ['pending', 'processed', 'dead'];
/** A read of one topic leaves the topic column out, and every row shares the caller's string. */
export const TOPIC_MESSAGE_COLUMNS = `seq, message_id, payload, metadata, ttl, ordering_key, created_at`;

/** A raw row of MESSAGE_COLUMNS. */
export type MessageRow = [number, string | null, string, string, string, number, string | null, number];
/** A raw row of MESSAGE_COLUMNS and STATUS_CODE. */
export type RecordRow = [number, string | null, string, string, string, number, string | null, number, number];
/** A raw row of TOPIC_MESSAGE_COLUMNS. */
export type TopicMessageRow = [number, string | null, string, string, number, string | null, number];

/** Read without its status: it says `pending`, as a message just committed does. */
export function toStoredMessage(r: MessageRow): StoredMessage {
  return new LogMessage(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
}

export function toMessageRecord(r: RecordRow): MessageRecord {
  return new LogMessage(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], STATUS_BY_CODE[r[8]]);
}

export function toTopicMessage(topic: string, r: TopicMessageRow): StoredMessage {
  return new LogMessage(r[0], r[1], topic, r[2], r[3], r[4], r[5], r[6]);
}
