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
  #inFlight = 0;
  #paused = false;

  constructor(id: string, sink: Sink, maxInFlight: number, group: string | undefined, inOrder = false) {
    this.id = id;
    this.sink = sink;
    this.maxInFlight = maxInFlight;
    this.group = group;
    this.inOrder = inOrder;
  }

  /** Deliveries handed to this member and not yet acked (durable streams only). */
  get inFlight(): number {
    return this.#inFlight;
  }

  hasRoom(isDurable: boolean): boolean {
    return !this.#paused && (!isDurable || this.#inFlight < this.maxInFlight);
  }

  /** A durable delivery was handed to it. */
  took(): void {
    this.#inFlight++;
  }

  /** One of its durable deliveries was acked, or taken back. */
  gaveBack(): void {
    this.#inFlight--;
  }

  /** The sink asked for no more until resume(). */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
  }
}
