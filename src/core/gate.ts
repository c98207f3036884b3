// Who is asking, and whether they may (PROTOCOL.md §12): every front-end turns the token a client gives into a
// Principal once per connection (once per request over HTTP), then asks it before each broker call. A refusal
// is FORBIDDEN naming the operation, its target and the credential, and is written to the audit log, as is
// every administrative action with its outcome. Publishes beyond a credential's publish_rate are RATE_LIMITED.
// Connections that live on are watched: a credential changed, rotated or removed (here, or on another broker
// sharing the store) reaches them within the time it takes to hear of it.
import { err, errAsync, ok, type Result, type ResultAsync } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { checkPattern, checkTopic } from '../protocol/topics.js';
import type { Access } from './access.js';
import type { Audit } from './audit.js';
import { ADMIN_GRANT, tokenHash, type Grant } from './credentials.js';

export type Forbidden = BrokerError<'FORBIDDEN'>;
export type PublishRefused = BrokerError<'FORBIDDEN' | 'RATE_LIMITED'>;
export type Unauthorized = BrokerError<'UNAUTHORIZED'>;

/** Where a request comes from: the front-end (`line`, `registration`, `ws`, `http`) and the peer's address. */
export interface Caller {
  readonly front: string;
  readonly peer: string;
}

/** What happened to a watched connection's credential. */
export type CredentialChange = 'revoked' | 'changed';

// Every allowed decision returns this one: an Ok is immutable, and a new one per publish is garbage.
const ALLOWED: Result<void, never> = ok(undefined);
// last_used_at is kept to the minute: one write a minute for every credential used in it, whatever the traffic.
const USED_FLUSH_MS = 60_000;

export class Gate {
  readonly #access: Access;
  readonly #audit: Audit;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #watched = new Set<Principal>();
  readonly #buckets = new Map<string, RateBucket>();
  #used = new Set<string>();
  readonly #usedTimer: NodeJS.Timeout;

  constructor(access: Access, audit: Audit, now: () => number, logger: Logger) {
    this.#access = access;
    this.#audit = audit;
    this.#now = now;
    this.#log = logger;
    access.onChange(() => this.#recheck());
    this.#usedTimer = setInterval(() => void this.#writeUsed(), USED_FLUSH_MS).unref();
  }

  /** Whether tokens are checked: EVENTBUS_TOKEN is set or a credential is stored. */
  get enabled(): boolean {
    return this.#access.enabled;
  }

  /** Who `token` is, or UNAUTHORIZED (written to the audit log; the caller closes or answers 401). */
  enter(token: string | null | undefined, caller: Caller): Result<Principal, Unauthorized> {
    const hash = token === null || token === undefined ? undefined : tokenHash(token);
    const grant = this.#access.grantByHash(hash);
    if (grant === undefined) {
      this.#audit.record({ credential: null, peer: caller.peer, action: `${caller.front} authenticate`, target: null, outcome: 'UNAUTHORIZED no such token' });
      return err(brokerError('UNAUTHORIZED', token === null || token === undefined ? 'a token is needed' : 'not a valid token'));
    }
    if (grant !== ADMIN_GRANT) this.#used.add(grant.name);
    return ok(new Principal(this, grant, hash, caller));
  }

  /** Follows `principal`'s credential until the returned function is called (a connection, until it closes). */
  watch(principal: Principal, listener: (change: CredentialChange) => void): () => void {
    principal.listener = listener;
    this.#watched.add(principal);
    return () => {
      this.#watched.delete(principal);
    };
  }

  /** Writes to the audit log. */
  record(principal: Principal, action: string, target: string | null, outcome: string): void {
    this.#audit.record({ credential: principal.name, peer: principal.caller.peer, action: `${principal.caller.front} ${action}`, target, outcome });
  }

  /** Takes `n` publishes from the credential's allowance for this second; false when there is not enough left. */
  takeRate(grant: Grant, n: number): boolean {
    const rate = grant.permissions.publishRate;
    if (rate === null) return true;
    let bucket = this.#buckets.get(grant.name);
    if (bucket === undefined || bucket.rate !== rate) {
      bucket = new RateBucket(rate, this.#now());
      this.#buckets.set(grant.name, bucket);
    }
    return bucket.take(n, this.#now());
  }

  /** Writes what the audit log and last_used_at still hold, and stops. */
  async close(): Promise<void> {
    clearInterval(this.#usedTimer);
    await this.#writeUsed();
    await this.#audit.close();
  }

  #recheck(): void {
    for (const principal of [...this.#watched]) {
      const grant = this.#access.grantByHash(principal.hash);
      if (grant === undefined) {
        this.#watched.delete(principal);
        principal.listener?.('revoked');
      } else if (grant !== principal.grant) {
        principal.grant = grant;
        principal.listener?.('changed');
      }
    }
  }

  async #writeUsed(): Promise<void> {
    if (this.#used.size === 0) return;
    const names = [...this.#used];
    this.#used = new Set();
    const written = await this.#access.used(names, this.#now());
    if (written.isErr()) this.#log.warn('could not write when credentials were last used', { reason: written.error.message });
  }
}

/** One client's identity: its credential's grant, asked before each operation. */
export class Principal {
  readonly #gate: Gate;
  grant: Grant;
  /** The hash of the token it came with, to find its credential again after a change. */
  readonly hash: string | undefined;
  readonly caller: Caller;
  /** Set while watched (Gate.watch). */
  listener: ((change: CredentialChange) => void) | undefined;

  constructor(gate: Gate, grant: Grant, hash: string | undefined, caller: Caller) {
    this.#gate = gate;
    this.grant = grant;
    this.hash = hash;
    this.caller = caller;
  }

  get name(): string {
    return this.grant.name;
  }

  /** May it publish a message to each of `topics` now (one each: a batch names a topic per message)? */
  publish(topics: readonly string[], action = 'publish'): Result<void, PublishRefused> {
    for (const topic of topics) {
      // A topic that is not one is left to the broker, to be refused as BAD_TOPIC.
      if (!this.grant.mayPublish(topic) && checkTopic(topic).isOk()) return this.#refuse(action, topic, `may not publish to ${topic}`);
    }
    if (!this.#gate.takeRate(this.grant, topics.length)) {
      const rate = this.grant.permissions.publishRate!;
      const reason = topics.length > rate ? `${topics.length} messages at once are more than its publish_rate of ${rate} a second` : `is over its publish_rate of ${rate} a second`;
      this.#gate.record(this, action, topics[0] ?? null, `RATE_LIMITED ${reason}`);
      return err(brokerError('RATE_LIMITED', `${action}: credential ${this.name} ${reason}`));
    }
    return ALLOWED;
  }

  /** May it read every topic `pattern` (valid) can match? */
  read(pattern: string, action = 'subscribe'): Result<void, Forbidden> {
    // A pattern that is not one is left to the broker, to be refused as BAD_PATTERN.
    return this.grant.maySubscribe(pattern) || checkPattern(pattern).isErr() ? ALLOWED : this.#refuse(action, pattern, `may not read ${pattern}`);
  }

  /** May it use durable consumer `id` (subscribe as it, ack, nack, fetch)? */
  useConsumer(id: string, action = 'subscribe'): Result<void, Forbidden> {
    return this.grant.mayUseConsumer(id) ? ALLOWED : this.#refuse(action, id, `may not use consumer ${id}`);
  }

  /** May it read the operator views (stats, topics, consumers, dead letters, schedules, metrics)? */
  monitor(action: string, target: string | null = null): Result<void, Forbidden> {
    return this.grant.mayMonitor() ? ALLOWED : this.#refuse(action, target, 'may not monitor the broker');
  }

  /** May it administer? A check alone, for an action whose outcome administer() cannot see. */
  mayAdminister(action: string, target: string | null): Result<void, Forbidden> {
    return this.grant.mayAdminister() ? ALLOWED : this.#refuse(action, target, 'is not an admin');
  }

  /** Runs an administrative action if it may, writing it and its outcome to the audit log. */
  administer<T, E extends BrokerError>(action: string, target: string | null, work: () => ResultAsync<T, E>): ResultAsync<T, E | Forbidden> {
    const allowed = this.mayAdminister(action, target);
    if (allowed.isErr()) return errAsync(allowed.error);
    return work().andTee(() => this.#gate.record(this, action, target, 'ok')).orTee((e) => this.#gate.record(this, action, target, `${e.code} ${e.message}`));
  }

  /** Writes an action to the audit log that was checked some other way (with mayAdminister). */
  record(action: string, target: string | null, outcome: string): void {
    this.#gate.record(this, action, target, outcome);
  }

  #refuse(action: string, target: string | null, why: string): Result<never, Forbidden> {
    this.#gate.record(this, action, target, `FORBIDDEN ${why}`);
    return err(brokerError('FORBIDDEN', `${action}: credential ${this.name} ${why}`));
  }
}

/** Up to `rate` publishes a second, refilled continuously, with at most a second's worth saved up. */
class RateBucket {
  readonly rate: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, now: number) {
    this.rate = rate;
    this.#tokens = rate;
    this.#at = now;
  }

  take(n: number, now: number): boolean {
    this.#tokens = Math.min(this.rate, this.#tokens + ((now - this.#at) * this.rate) / 1000);
    this.#at = now;
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }
}
