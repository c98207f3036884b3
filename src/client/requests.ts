// The client's requests waiting for their answer, by request id: each one's timeout, the publishes that wait
// for a connection, and what a dropped connection does to each kind of request.
import type { ServerFrame } from '../protocol/client-frames.js';
import { InFlight } from '../util/in-flight.js';
import { EventBusError } from './errors.js';
import type { Subscription } from './subscription.js';

/** What a request is, for what happens to it when the connection drops. */
export type RequestKind = 'publish' | 'subscribe' | 'unsubscribe';

/** A subscribe's subscription, registered the moment its answer is read (see EventBusClient's #onFrame). */
export interface SubscribeRequest {
  readonly sub: Subscription;
  readonly resuming: boolean;
}

export interface Pending {
  readonly frame: string;
  readonly kind: RequestKind;
  readonly resolve: (frame: ServerFrame) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly subscription?: SubscribeRequest;
}

/** What the requests need from the connection. */
export interface RequestLink {
  isOpen(): boolean;
  /** Sends a frame; false when there is no connection (the request then waits for one). */
  send(frame: string): boolean;
}

export class Requests {
  /** By request id; see InFlight for why not a Map (each entry holds a whole frame). */
  readonly #pending = new InFlight<Pending>();
  #nextId = 1;
  #waitingPublishes = 0;
  readonly #timeoutMs: number;
  readonly #link: RequestLink;

  constructor(timeoutMs: number, link: RequestLink) {
    this.#timeoutMs = timeoutMs;
    this.#link = link;
  }

  /** Publishes that wait for a connection: sent while there was none, or on one that dropped before the answer. */
  get waitingPublishes(): number {
    return this.#waitingPublishes;
  }

  /** Sends a request (`build` gets the id) and resolves with its answer; see settle() for the rest. */
  add(build: (id: string) => string, kind: RequestKind, subscription?: SubscribeRequest): Promise<ServerFrame> {
    const publish = kind === 'publish';
    const n = this.#nextId++;
    const frame = build(String(n));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.settle(n) === undefined) return;
        // A publish that gave up waiting for the connection no longer waits.
        if (publish && !this.#link.isOpen()) this.#waitingPublishes = Math.max(0, this.#waitingPublishes - 1);
        reject(new EventBusError('UNAVAILABLE', `no answer within ${this.#timeoutMs} ms (requestTimeoutMs)`));
      }, this.#timeoutMs);
      this.#pending.push(n, subscription === undefined ? { frame, kind, resolve, reject, timer } : { frame, kind, resolve, reject, timer, subscription });
      if (!this.#link.send(frame) && publish) this.#waitingPublishes++;
    });
  }

  /** Removes a pending request, for its caller to resolve or reject; undefined if it was already answered. */
  settle(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    if (p === undefined) return undefined;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }

  /** A connection is up: the frames of every request in flight, in the order they were asked for, to send on it. */
  takeWaiting(): string[] {
    this.#waitingPublishes = 0;
    return [...this.#pending.values()].map((p) => p.frame);
  }

  /**
   * The connection dropped. Requests are sent again on reconnect, except what the reconnect redoes anyway: an
   * unsubscribe (its subscription went with the connection) and a resuming subscribe (the next connection
   * resumes afresh), which end here.
   */
  disconnected(wasOpen: boolean): void {
    for (const [id, p] of this.#pending.entries()) {
      if (p.kind === 'publish' && wasOpen) this.#waitingPublishes++;
      else if (p.subscription?.resuming === true || p.kind === 'unsubscribe') {
        this.settle(id)?.resolve({ type: 'unsubscribed', subscription: '' });
      }
    }
  }

  /** Fails every pending request with `error`. */
  rejectAll(error: EventBusError): void {
    for (const [id] of [...this.#pending.entries()]) this.settle(id)?.reject(error);
  }
}
