// Pulling a durable consumer's messages by request (PROTOCOL.md §8 fetch, ack, nack, extend) rather than over a
// socket. Each consumer pulled through this broker has one member in its stream, as a WebSocket subscription is
// one, so the dispatcher serves it alike: ordering-key stickiness, the consumer's window, ack deadlines,
// redelivery, dead letters, partitions held across brokers. The member takes messages only while a fetch waits
// (it is paused otherwise), hands them to the waiting fetches in the order they came, and leaves the consumer
// once it holds no delivery and no fetch has come for the consumer's ack timeout: a client that stopped pulling
// keeps no ordering key or partition from the other members. No sockets: the front-end hands in the request.
import { err, errAsync, ok, ResultAsync, type Result } from 'neverthrow';
import { brokerError, SHUTTING_DOWN, type BrokerError } from '../errors.js';
import { checkExtendMs, checkFetch, checkNackDelay, checkSeqs } from '../protocol/pull.js';
import type { Dispatcher } from './dispatcher.js';
import type { Stream } from './stream.js';
import type { Member } from './subscription.js';
import type { Delivery, Sink, StoredMessage } from './types.js';

/** One message a fetch answers. A class, not a literal, as LogMessage says why. */
export class Pulled {
  constructor(
    readonly message: StoredMessage,
    /** Attempts so far, counting this one, from 1. */
    readonly delivery: number,
    /** When it is sent again unless acked or extended, ms since the epoch. */
    readonly ackDeadline: number,
  ) {}
}

export type FetchError = BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>;
export type SettleError = BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS'>;

// A fetch that does not wait answers once its consumer's stream has read what it has (a new member, once it has
// its partitions); a store too slow to write the stream's reservation, or beat, must not hold it longer than this.
const NO_WAIT_SETTLE_MS = 5000;

class WaitingFetch {
  readonly taken: Pulled[] = [];
  timer: NodeJS.Timeout | undefined;
  isAnswered = false;

  constructor(
    readonly max: number,
    readonly answer: (taken: Pulled[]) => void,
  ) {}
}

/** A consumer's pull member on this broker: the Sink its stream delivers to while fetches wait. */
class PullMember implements Sink {
  readonly showsStatus = true;
  readonly #owner: PullMembers;
  readonly id: string;
  readonly consumer: string;
  readonly stream: Stream;
  /** Oldest first: each delivery goes to the first, which is answered once full, or on the turn it got its first. */
  readonly waiting: WaitingFetch[] = [];
  /** Deliveries that found no fetch waiting (the member is paused while none waits, so none should): the next fetch takes them. */
  readonly #spare: Pulled[] = [];
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(owner: PullMembers, id: string, consumer: string, stream: Stream) {
    this.#owner = owner;
    this.id = id;
    this.consumer = consumer;
    this.stream = stream;
  }

  /** Its member in the stream (undefined once it left). */
  get member(): Member | undefined {
    return this.#owner.dispatcher.subscription(this.id)?.member;
  }

  deliver(delivery: Delivery): boolean {
    const { message } = delivery;
    const member = this.member;
    const deadline = (member === undefined ? undefined : this.stream.deadlineOf(member, message.seq)) ?? this.#owner.dispatcher.now() + this.stream.ackTimeoutMs;
    const pulled = new Pulled(message, delivery.delivery, deadline);
    const fetch = this.waiting[0];
    if (fetch === undefined) {
      this.#spare.push(pulled);
      return false;
    }
    fetch.taken.push(pulled);
    if (fetch.taken.length >= fetch.max) this.answer(fetch);
    // The rest of this turn's deliveries (a commit's, a page's) go with it.
    else if (fetch.taken.length === 1) setImmediate(() => this.answer(fetch));
    return this.waiting.length > 0;
  }

  closed(): void {
    this.#owner.forget(this);
    this.answerAll();
  }

  /** Queues a fetch of up to `max`, with the spare deliveries first. */
  wait(fetch: WaitingFetch): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    fetch.taken.push(...this.#spare.splice(0, fetch.max));
    this.waiting.push(fetch);
    if (fetch.taken.length >= fetch.max) this.answer(fetch);
    else if (fetch.taken.length > 0) setImmediate(() => this.answer(fetch));
  }

  /** Answers `fetch` with what it took; the member pauses when no other fetch waits. */
  answer(fetch: WaitingFetch): void {
    if (fetch.isAnswered) return;
    fetch.isAnswered = true;
    clearTimeout(fetch.timer);
    const i = this.waiting.indexOf(fetch);
    if (i >= 0) this.waiting.splice(i, 1);
    if (this.waiting.length === 0) this.#idle();
    fetch.answer(fetch.taken);
  }

  /** The client went away before its answer: what the fetch took goes to another fetch or member at once. */
  abandon(fetch: WaitingFetch): void {
    if (fetch.isAnswered) return;
    const member = this.member;
    this.answer(fetch);
    if (member === undefined) return;
    for (const p of fetch.taken) if (this.stream.holds(member, p.message.seq)) this.stream.nack(p.message.seq, 0, 'the fetch was abandoned');
  }

  answerAll(): void {
    for (const fetch of [...this.waiting]) this.answer(fetch);
  }

  #idle(): void {
    this.member?.pause();
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#leaveIfIdle(), this.stream.ackTimeoutMs).unref();
  }

  #leaveIfIdle(): void {
    this.#idleTimer = undefined;
    if (this.waiting.length > 0) return;
    const member = this.member;
    if (member !== undefined && member.inFlight > 0) {
      this.#idle();
      return;
    }
    this.#owner.forget(this);
    this.#owner.dispatcher.detach(this.id);
  }
}

/** What a new pull member needs of the rest of the broker. */
export interface PullHost {
  /** Reads what other brokers committed (the log follower): a consumer that just gained a member may be behind. */
  wake(): void;
  /** Resolves once a new member has its share of a shared consumer's partitions (the cluster's next beat); at once alone. */
  joined(): Promise<void>;
}

/** The pull members of this broker's consumers, and the fetch, ack, nack and extend of the broker API. */
export class PullMembers {
  readonly dispatcher: Dispatcher;
  readonly #host: PullHost;
  readonly #members = new Map<string, PullMember>();
  #nextId = 1;
  #stopped = false;

  constructor(dispatcher: Dispatcher, host: PullHost) {
    this.dispatcher = dispatcher;
    this.#host = host;
  }

  /**
   * Up to `max` (default 10) of the consumer's messages, as one of its members; with none ready, waits up to
   * `waitMs` (default 0) for some. Each counts as a delivery, sent again after the ack timeout unless acked or
   * extended. `signal`: the client went away; what the fetch took is given back.
   */
  fetch(consumer: string, max: number | undefined, waitMs: number | undefined, signal?: AbortSignal): ResultAsync<Pulled[], FetchError> {
    const checked = checkFetch(max, waitMs);
    if (checked.isErr()) return errAsync(checked.error);
    if (this.#stopped) return errAsync(brokerError('UNAVAILABLE', SHUTTING_DOWN));
    const stream = this.dispatcher.durable(consumer);
    if (stream === undefined) return errAsync(unknown(consumer));
    const answered = new Promise<Pulled[]>((resolve) => {
      const fetch = new WaitingFetch(checked.value.max, resolve);
      let pull = this.#members.get(consumer);
      let ready: Promise<void>;
      if (pull === undefined) {
        pull = new PullMember(this, `pull-${this.#nextId++}`, consumer, stream);
        this.#members.set(consumer, pull);
        pull.wait(fetch);
        this.dispatcher.attach(stream, pull.id, pull, undefined, undefined);
        this.#host.wake();
        ready = this.#host.joined().then(() => stream.whenIdle());
      } else {
        pull.wait(fetch);
        if (pull.member?.isPaused === true) this.dispatcher.resume(pull.id);
        else stream.kick();
        ready = stream.whenIdle();
      }
      if (fetch.isAnswered) return;
      const member = pull;
      if (signal?.aborted === true) {
        member.abandon(fetch);
        return;
      }
      signal?.addEventListener('abort', () => member.abandon(fetch), { once: true });
      if (checked.value.waitMs > 0) fetch.timer = setTimeout(() => member.answer(fetch), checked.value.waitMs);
      else {
        fetch.timer = setTimeout(() => member.answer(fetch), NO_WAIT_SETTLE_MS);
        // Taken ones are answered on the turn the first came; none taken once the stream has read what it has: none ready.
        void ready.then(() => {
          if (fetch.taken.length === 0) member.answer(fetch);
        });
      }
    });
    return ResultAsync.fromSafePromise(answered);
  }

  /** Acks deliveries fetched from the consumer here; answers how many (seqs it does not hold are counted out). */
  ack(consumer: string, seqs: readonly number[]): Result<number, SettleError> {
    return this.#settle(consumer, seqs, (stream, seq) => {
      stream.ack(seq);
      return true;
    });
  }

  /** Sends those deliveries again after `delayMs`, or without it after the consumer's backoff; answers how many. */
  nack(consumer: string, seqs: readonly number[], delayMs?: number): Result<number, SettleError> {
    const delay = checkNackDelay(delayMs);
    if (delay.isErr()) return err(delay.error);
    return this.#settle(consumer, seqs, (stream, seq) => {
      stream.nack(seq, delay.value);
      return true;
    });
  }

  /** Moves the ack deadline of those deliveries to `ms` from now; answers how many. */
  extend(consumer: string, seqs: readonly number[], ms: number): Result<number, SettleError> {
    const checked = checkExtendMs(ms);
    if (checked.isErr()) return err(checked.error);
    return this.#settle(consumer, seqs, (stream, seq, member) => stream.extend(member, seq, checked.value) !== undefined);
  }

  /** The broker is stopping: every waiting fetch is answered at once with what it has, and new ones are refused. */
  stop(): void {
    this.#stopped = true;
    for (const pull of this.#members.values()) pull.answerAll();
  }

  /** `pull` left its consumer (idle, or the consumer went). */
  forget(pull: PullMember): void {
    if (this.#members.get(pull.consumer) === pull) this.#members.delete(pull.consumer);
  }

  #settle(consumer: string, seqs: readonly number[], act: (stream: Stream, seq: number, member: Member) => boolean): Result<number, SettleError> {
    const checked = checkSeqs(seqs);
    if (checked.isErr()) return err(checked.error);
    if (this.dispatcher.durable(consumer) === undefined) return err(unknown(consumer));
    const pull = this.#members.get(consumer);
    const member = pull?.member;
    if (pull === undefined || member === undefined) return ok(0);
    let n = 0;
    for (const seq of new Set(checked.value)) if (pull.stream.holds(member, seq) && act(pull.stream, seq, member)) n++;
    return ok(n);
  }
}

const unknown = (consumer: string): BrokerError<'UNKNOWN_CONSUMER'> => brokerError('UNKNOWN_CONSUMER', `no consumer ${consumer}`);
