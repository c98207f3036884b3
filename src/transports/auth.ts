// The token check every front-end shares (PROTOCOL.md §7): telnet's AUTH line, and for every HTTP route and
// the WebSocket upgrade `Authorization: Bearer <token>` or `?token=<token>`. Compared in constant time, so
// that the time an answer takes says nothing about how much of a guess was right; refusals are logged with
// the peer's address (never the token), at most one line a second, however many come.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../logger.js';
import { LogThrottle } from '../util/log-throttle.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Whether `given` is the token; any token is fine when none is set. */
export function tokenMatches(given: string | null | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  if (given === null || given === undefined) return false;
  // Digests are of equal length whatever was given, so the comparison is in constant time too.
  return timingSafeEqual(digest(given), digest(token));
}

/** The token an HTTP request carries, checked; anything goes when EVENTBUS_TOKEN is not set. */
export function hasToken(authorization: string | undefined, url: string, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : new URL(url, 'http://x').searchParams.get('token');
  return tokenMatches(given, token);
}

export const UNAUTHORIZED_MESSAGE = 'send Authorization: Bearer <token> or ?token=';

const REFUSAL_LOG_MS = 1000;

/** Logs refused authentications, at most one line per second with a count of those not logged since. */
export class RefusalLog {
  readonly #log: Logger;
  readonly #throttle = new LogThrottle(REFUSAL_LOG_MS);

  constructor(logger: Logger) {
    this.#log = logger;
  }

  refused(peer: string, front: string): void {
    this.#throttle.maybeWrite(Date.now(), (heldBack) => {
      this.#log.warn('authentication refused', { peer, front, ...(heldBack > 0 ? { more_since_last: heldBack } : {}) });
    });
  }
}
