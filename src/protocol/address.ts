// Push addresses of registered consumers (PROTOCOL.md §4): `<proto>://<host>:<port>[/path]` with proto
// tcp, udp, ws or http, or wss and https (ws and http over TLS), and the EVENTBUS_ALLOWED_TARGETS check. Pure.
import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';

export const PUSH_PROTOCOLS = ['tcp', 'udp', 'ws', 'http', 'wss', 'https'] as const;
export type PushProtocol = (typeof PUSH_PROTOCOLS)[number];

export interface PushAddress {
  readonly protocol: PushProtocol;
  readonly host: string;
  readonly port: number;
  /** `/` when none was given. */
  readonly path: string;
  /** The address as stored and listed: `<proto>://<host>:<port><path>`. */
  readonly url: string;
}

export type AddressError = BrokerError<'BAD_ADDRESS'>;

const badAddress = (text: string, why: string): Result<never, AddressError> =>
  err(brokerError('BAD_ADDRESS', `${JSON.stringify(text.slice(0, 200))}: ${why}`));

// <proto>://<host>:<port> up to the path: read by hand, because URL drops an explicit default port
// (http://h:80 has no port as far as URL is concerned) and the protocol requires one.
const AUTHORITY = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[^/:?#@[\]]+)(?::([^/?#]*))?(.*)$/i;
const HOST_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

export function parseAddress(text: string): Result<PushAddress, AddressError> {
  const m = AUTHORITY.exec(text);
  if (m === null) return badAddress(text, 'expected <proto>://<host>:<port>[/path]');
  const protocol = m[1]!.toLowerCase();
  if (!(PUSH_PROTOCOLS as readonly string[]).includes(protocol)) {
    return badAddress(text, `unsupported protocol "${protocol}" (supported: ${PUSH_PROTOCOLS.join(', ')})`);
  }
  if (m[3] === undefined || m[3] === '') return badAddress(text, 'no port');
  const port = /^\d{1,5}$/.test(m[3]) ? Number(m[3]) : 0;
  if (port < 1 || port > 65535) return badAddress(text, 'port must be 1-65535');
  const host = m[2]!.toLowerCase();
  if (!isValidHost(host)) return badAddress(text, `"${host}" is not a host name or IP address`);
  const rest = m[4]!;
  if (rest.includes('#')) return badAddress(text, 'fragments are not allowed');
  if (protocol === 'tcp' || protocol === 'udp') {
    if (rest !== '' && rest !== '/') return badAddress(text, `${protocol} addresses take no path`);
    return ok({ protocol, host, port, path: '/', url: `${protocol}://${host}:${port}` });
  }
  if (rest !== '' && !rest.startsWith('/') && !rest.startsWith('?')) return badAddress(text, 'cannot be parsed');
  let path: string;
  try {
    const url = new URL(`${protocol}://${host}${rest}`); // normalises the path's escapes
    if (url.hash !== '') return badAddress(text, 'fragments are not allowed');
    path = `${url.pathname}${url.search}`;
  } catch {
    return badAddress(text, 'cannot be parsed');
  }
  const shown = path === '/' ? '' : path;
  return ok({ protocol: protocol as PushProtocol, host, port, path, url: `${protocol}://${host}:${port}${shown}` });
}

/**
 * Whether an address may be pushed to under EVENTBUS_ALLOWED_TARGETS: `host[:port]` patterns where `*` in
 * the host matches any run of characters (`*.internal`, `10.0.*`). No list means every address is allowed.
 */
export function isAllowedTarget(address: PushAddress, allowed: readonly string[] | undefined): boolean {
  if (allowed === undefined) return true;
  return allowed.some((pattern) => {
    const colon = pattern.lastIndexOf(':');
    const hasPort = colon > 0 && colon > pattern.lastIndexOf(']') && /^\d+$/.test(pattern.slice(colon + 1));
    const hostPattern = hasPort ? pattern.slice(0, colon) : pattern;
    if (hasPort && Number(pattern.slice(colon + 1)) !== address.port) return false;
    const regex = new RegExp(`^${hostPattern.split('*').map(escapeRegExp).join('.*')}$`, 'i');
    return regex.test(address.host);
  });
}

function isValidHost(host: string): boolean {
  if (host.startsWith('[')) return isIPv6Literal(host);
  if (/^[\d.]+$/.test(host)) return /^(\d{1,3})(\.\d{1,3}){3}$/.test(host) && host.split('.').every((o) => Number(o) <= 255);
  return HOST_NAME.test(host);
}

/** `[…]` holds an IPv6 address: WHATWG URL parsing checks it (and nothing else here needs node:net). */
function isIPv6Literal(bracketed: string): boolean {
  try {
    new URL(`http://${bracketed}/`);
    return true;
  } catch {
    return false;
  }
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
