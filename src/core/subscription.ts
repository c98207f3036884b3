// One subscription: a Sink with its in-flight window. Several subscriptions of one durable consumer are the
// members of one Stream and split its messages (a queue group: who takes the next one). No I/O here.
import type { Sink } from './types.js';

export class Member {
  readonly id: string;
  readonly sink: Sink;
  /** The window the subscription asked for; undefined: its consumer's (max_in_flight, else EVENTBUS_MAX_IN_FLIGHT). */
  readonly askedInFlight: number | undefined;
  readonly group: string | undefined;
  /** Nothing new while a redelivery waits: the member sees its messages in seq order (push consumers). */
  readonly inOrder: boolean;
  #maxInFlight: number;
  #inFlight = 0;
  #paused = false;

  constructor(id: string, sink: Sink, maxInFlight: number | undefined, group: string | undefined, inOrder = false) {
    this.id = id;
    this.sink = sink;
    this.askedInFlight = maxInFlight;
    this.#maxInFlight = maxInFlight ?? Infinity;
    this.group = group;
    this.inOrder = inOrder;
  }

  /** Unacked deliveries it may hold (durable streams only), as its stream sets it. */
  get maxInFlight(): number {
    return this.#maxInFlight;
  }

  /**
   * Its consumer's window (`consumerLimit`: the consumer's own, null without one; `defaultLimit`: the setting's):
   * the one it asked for, no wider than the consumer's own; the consumer's when it asked for none.
   */
  limitTo(consumerLimit: number | null, defaultLimit: number): void {
    const asked = this.askedInFlight ?? consumerLimit ?? defaultLimit;
    this.#maxInFlight = consumerLimit === null ? asked : Math.min(asked, consumerLimit);
  }

  /** Whether it is waiting for resume() (its sink asked for no more). */
  get isPaused(): boolean {
    return this.#paused;
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

/**
 * The members of one stream, which split its messages: each goes to the member holding its ordering key's
 * deliveries, else to the next member in turn that has room.
 */
export class QueueGroup {
  readonly members: Member[] = [];
  #turn = 0;
  /** Members that want their messages strictly in seq order. */
  #inOrder = 0;

  add(member: Member): void {
    this.members.push(member);
    if (member.inOrder) this.#inOrder++;
  }

  /** False when it was not a member. */
  remove(member: Member): boolean {
    const i = this.members.indexOf(member);
    if (i < 0) return false;
    this.members.splice(i, 1);
    if (member.inOrder) this.#inOrder--;
    return true;
  }

  /** Some member wants its messages strictly in seq order. */
  get hasInOrder(): boolean {
    return this.#inOrder > 0;
  }

  /** Deliveries sent to a member and awaiting its ack right now. */
  get awaitingAck(): number {
    let n = 0;
    for (const m of this.members) n += m.inFlight;
    return n;
  }

  /** `owner`: the member holding the message's ordering key, if one does; it takes the message, or nobody does yet. */
  choose(owner: Member | null | undefined, isDurable: boolean): Member | undefined {
    if (owner) return owner.hasRoom(isDurable) ? owner : undefined;
    const n = this.members.length;
    for (let i = 0; i < n; i++) {
      const m = this.members[(this.#turn + i) % n]!;
      if (m.hasRoom(isDurable)) {
        this.#turn = (this.#turn + i + 1) % n;
        return m;
      }
    }
    return undefined;
  }
}
