// The token check every HTTP route and the WebSocket upgrade make (PROTOCOL.md §7): `Authorization: Bearer
// <token>` or `?token=<token>`; anything goes when EVENTBUS_TOKEN is not set.
import { timingSafeEqual } from 'node:crypto';

export function hasToken(authorization: string | undefined, url: string, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : new URL(url, 'http://x').searchParams.get('token');
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export const UNAUTHORIZED_MESSAGE = 'send Authorization: Bearer <token> or ?token=';
