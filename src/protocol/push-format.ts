// A push consumer's format (PROTOCOL.md §8, §13): what each http(s) push request carries, the JSON body of §4
// or a binary-mode CloudEvent. The one check every front-end and the broker API run. Pure.
import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';

export const PUSH_FORMATS = ['eventbus', 'cloudevents'] as const;
export type PushFormat = (typeof PUSH_FORMATS)[number];

/** What a consumer that never chose one gets, and what a stored null means. */
export const DEFAULT_PUSH_FORMAT: PushFormat = 'eventbus';

/**
 * `format` as given (a JSON value), checked: null asks for the default again. The default is returned as null,
 * so that the store holds one spelling of it (a consumer row made before the column existed has null too).
 */
export function checkPushFormat(value: unknown): Result<'cloudevents' | null, BrokerError<'BAD_ARGS'>> {
  if (value === null || value === DEFAULT_PUSH_FORMAT) return ok(null);
  if (value === 'cloudevents') return ok(value);
  return err(brokerError('BAD_ARGS', `format must be one of ${PUSH_FORMATS.map((f) => JSON.stringify(f)).join(', ')}`));
}

/**
 * A format goes with the address it is pushed to: a CloudEvent here is an HTTP request (the binary mode of the
 * HTTP binding), so `cloudevents` needs an http:// or https:// address; a tcp line, a udp datagram or a
 * WebSocket frame has no headers to carry its attributes in.
 */
export function checkFormatFits(format: PushFormat | null, address: string | null): Result<void, BrokerError<'BAD_ARGS'>> {
  if (format !== 'cloudevents' || (address !== null && /^https?:\/\//i.test(address))) return ok(undefined);
  const given = address === null ? 'a consumer without an address is read over the API, not pushed to' : `${address} is not one`;
  return err(brokerError('BAD_ARGS', `format "cloudevents" needs an http:// or https:// push address: ${given}`));
}
