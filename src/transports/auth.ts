// What the front-ends share of authentication (PROTOCOL.md §7, §12): where an HTTP request or a WebSocket
// upgrade carries its token (the core's Gate says whose it is, line-session.ts reads telnet's AUTH line), and
// the log of refusals, with the peer's address (never the token), at most one line a second however many come.
import type { Logger } from '../logger.js';
import { LogThrottle } from '../util/log-throttle.js';

/** The token an HTTP request or WebSocket upgrade carries: `Authorization: Bearer <token>`, else `?token=`. */
export function tokenOf(authorization: string | undefined, url: string): string | undefined {
  if (authorization?.startsWith('Bearer ')) return authorization.slice(7).trim();
  return new URL(url, 'http://x').searchParams.get('token') ?? undefined;
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
