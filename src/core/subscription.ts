// One subscription: a Sink with its in-flight window. Several subscriptions of one durable consumer are the
// members of one Stream and split its messages (a queue group). No I/O here.
import type { Sink } from './types.js';

export class Member {
  readonly id: string;
  readonly sink: Sink;
  readonly maxInFlight: number;
  readonly group: string | undefined;
  /** Nothing new while a redelivery waits: the member sees its messages in seq order (push consumers). */
  readonly inOrder: boolean;
  /** Deliveries handed to this member and not yet acked (durable streams only). */
  inFlight = 0;
  /** The sink asked for no more until resume(). */
  paused = false;

  constructor(id: string, sink: Sink, maxInFlight: number, group: string | undefined, inOrder = false) {
    this.id = id;
    this.sink = sink;
    this.maxInFlight = maxInFlight;
    this.group = group;
    this.inOrder = inOrder;
  }

  hasRoom(isDurable: boolean): boolean {
    return !this.paused && (!isDurable || this.inFlight < this.maxInFlight);
  }
}
