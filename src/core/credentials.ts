// Credentials and what each may do (PROTOCOL.md §12): their tokens, made random and kept only as a hash, and
// the decisions every front-end asks for (publish to a topic, read a pattern, use a consumer, monitor,
// administer), answered once per credential and topic or pattern and then from a cache, since a connection
// asks the same question for every message it sends.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import { checkPatterns, topicMatches } from '../protocol/topics.js';
import { patternCovered } from './pattern-cover.js';

/** What a credential may do; `admin` may do everything. */
export interface Permissions {
  /** Topic patterns it may publish to. */
  readonly publish: readonly string[];
  /** Topic patterns it may read: a subscription's pattern must be covered by them. */
  readonly subscribe: readonly string[];
  /** Globs (`*`: any run of characters) of the durable consumers it may use. */
  readonly consumers: readonly string[];
  readonly monitor: boolean;
  readonly admin: boolean;
  /** Messages a second it may publish, per broker; null for no limit. */
  readonly publishRate: number | null;
}

/** The credential EVENTBUS_TOKEN stands for. */
export const ADMIN_NAME = 'admin';
export const ALL_PERMISSIONS: Permissions = { publish: ['#'], subscribe: ['#'], consumers: ['*'], monitor: true, admin: true, publishRate: null };

// 256 bits, base64url: past the 128 bits §12 asks for, and safe in a URL's ?token=.
const TOKEN_BYTES = 32;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
const GLOB = /^[A-Za-z0-9_.:@*-]{1,255}$/;
// Answers kept per credential and kind of question: a connection's hot topics fit, a flood of unique topics
// starts the cache over rather than growing it.
const CACHED_ANSWERS = 10_000;

/** A new token: random, shown once, stored only as tokenHash(token). */
export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/**
 * What is stored of a token. A fast hash is enough: the token is random and long, so there is nothing to guess
 * from the hash that is quicker than guessing the token.
 */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Whether two hashes (of equal length) are equal, in constant time. */
export function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

export interface PermissionsInput {
  readonly publish?: readonly string[] | undefined;
  readonly subscribe?: readonly string[] | undefined;
  readonly consumers?: readonly string[] | undefined;
  readonly monitor?: boolean | undefined;
  readonly admin?: boolean | undefined;
  readonly publishRate?: number | null | undefined;
}

/** A credential's name: 1 to 64 letters, digits and `._:@-`, starting with a letter or digit. */
export function checkCredentialName(name: string): Result<string, BrokerError<'BAD_ARGS'>> {
  return NAME.test(name) ? ok(name) : err(brokerError('BAD_ARGS', 'a credential name is 1 to 64 letters, digits, ".", "_", ":", "@" or "-", starting with a letter or digit'));
}

/** The permissions `input` asks for, checked; what it leaves out is not allowed. */
export function checkPermissions(input: PermissionsInput): Result<Permissions, BrokerError<'BAD_ARGS' | 'BAD_PATTERN'>> {
  const publish = checkPatterns(input.publish ?? []);
  if (publish.isErr()) return err(publish.error);
  const subscribe = checkPatterns(input.subscribe ?? []);
  if (subscribe.isErr()) return err(subscribe.error);
  const consumers = input.consumers ?? [];
  const badGlob = consumers.find((g) => typeof g !== 'string' || !GLOB.test(g));
  if (badGlob !== undefined) return err(brokerError('BAD_ARGS', `consumers: ${JSON.stringify(badGlob)} is not a consumer id or a glob of one (letters, digits, "_.:@-" and "*")`));
  const rate = input.publishRate ?? null;
  if (rate !== null && (!Number.isSafeInteger(rate) || rate < 1)) return err(brokerError('BAD_ARGS', 'publish_rate must be a whole number of messages a second, 1 or more'));
  return ok({ publish: publish.value, subscribe: subscribe.value, consumers: [...consumers], monitor: input.monitor === true, admin: input.admin === true, publishRate: rate });
}

/** Whether consumer id `id` matches `glob`, whose `*` stands for any run of characters. */
export function globMatches(glob: string, id: string): boolean {
  const parts = glob.split('*');
  if (parts.length === 1) return glob === id;
  const first = parts[0]!;
  const last = parts.at(-1)!;
  if (id.length < first.length + last.length || !id.startsWith(first) || !id.endsWith(last)) return false;
  let at = first.length;
  const end = id.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const found = id.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** The decisions for one credential, cached: what the front-ends ask before every operation. */
export class Grant {
  readonly name: string;
  readonly permissions: Permissions;
  readonly #publish = new Map<string, boolean>();
  readonly #subscribe = new Map<string, boolean>();
  readonly #consumers = new Map<string, boolean>();

  constructor(name: string, permissions: Permissions) {
    this.name = name;
    this.permissions = permissions;
  }

  /** `topic` must be valid (§2). */
  mayPublish(topic: string): boolean {
    return this.permissions.admin || cached(this.#publish, topic, () => this.permissions.publish.some((p) => topicMatches(p, topic)));
  }

  /** Whether every topic `pattern` can match is one it may read; `pattern` must be valid (§2). */
  maySubscribe(pattern: string): boolean {
    return this.permissions.admin || cached(this.#subscribe, pattern, () => patternCovered(pattern, this.permissions.subscribe));
  }

  mayUseConsumer(id: string): boolean {
    return this.permissions.admin || cached(this.#consumers, id, () => this.permissions.consumers.some((g) => globMatches(g, id)));
  }

  mayMonitor(): boolean {
    return this.permissions.admin || this.permissions.monitor;
  }

  mayAdminister(): boolean {
    return this.permissions.admin;
  }
}

/** The grant for EVENTBUS_TOKEN, and for everyone when no credential is set (§7). */
export const ADMIN_GRANT = new Grant(ADMIN_NAME, ALL_PERMISSIONS);

function cached(answers: Map<string, boolean>, key: string, decide: () => boolean): boolean {
  let answer = answers.get(key);
  if (answer === undefined) {
    if (answers.size >= CACHED_ANSWERS) answers.clear();
    answer = decide();
    answers.set(key, answer);
  }
  return answer;
}
