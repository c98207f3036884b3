// What the core tells a tracer (PROTOCOL.md §13): a publish taken and made durable, a delivery attempt sent
// and how it ended. The core knows no tracing library: the OpenTelemetry adapter (src/tracing/) implements
// this port, and NO_TRACING stands in when tracing is off, so that the hot paths test one boolean and do
// nothing else.
import type { Appended } from './store-port.js';
import type { StoredMessage } from './types.js';

/** The rows of one publish call as the committer takes them; the adapter may add the trace context to their metadata. */
export interface TracedRow {
  readonly topic: string;
  readonly messageId: string | null;
  /** The metadata JSON without the broker's timestamp (PendingRow.metadataTail). */
  readonly metadataTail: string;
}

/** The spans of one publish call: ended once its rows are durable, or failed. */
export interface PublishTrace {
  /** The metadata of each row to store, in order: its own, or with the publish span's context when it carried none. */
  readonly metadataTails: readonly string[];
  durable(appended: readonly Appended[], committedAt: number): void;
  failed(code: string, reason: string): void;
}

/**
 * Why a delivery attempt did not end in an ack (error.type): nacked, not acked in time, the last attempt (dead
 * lettered), its member left before acking (sent again to another), or withdrawn (a rewind, or its partition
 * handed to another broker, will send the message again).
 */
export type AttemptFailure = 'nack' | 'timeout' | 'dead_letter' | 'member_left' | 'withdrawn';

/** One delivery attempt's span: ended at its ack, nack, timeout or dead letter. */
export interface AttemptTrace {
  end(failure?: AttemptFailure, reason?: string): void;
}

export interface Tracing {
  /** False: no span is made and nothing below is called. */
  readonly on: boolean;
  publish(rows: readonly TracedRow[]): PublishTrace;
  /** `consumer`: the durable consumer's id (messaging.consumer.group.name); undefined for a subscription of its own. */
  attempt(message: StoredMessage, consumer: string | undefined, delivery: number): AttemptTrace;
  /** Exports what is left; the broker is closing. */
  close(): Promise<void>;
}

const NOTHING = { end: () => {} };

export const NO_TRACING: Tracing = {
  on: false,
  publish: (rows) => ({ metadataTails: rows.map((r) => r.metadataTail), durable: () => {}, failed: () => {} }),
  attempt: () => NOTHING,
  close: () => Promise.resolve(),
};
