// The registration server's commands (PROTOCOL.md §4): parsing a line into a command, and the reply lines.
// Keywords are case-insensitive; patterns and addresses are checked here, consumers by the broker. Pure.
import { err, ok, type Result } from 'neverthrow';
import { checkPatterns } from './topics.js';
import { brokerError, type BrokerError } from '../errors.js';
import { parseAddress, type PushAddress } from './address.js';

export type RegistrationCommand =
  | { readonly type: 'register'; readonly id: string; readonly address: PushAddress; readonly patterns: readonly string[] }
  | { readonly type: 'subscribe'; readonly id: string; readonly patterns: readonly string[] }
  | { readonly type: 'unsubscribe'; readonly id: string; readonly patterns: readonly string[] }
  | { readonly type: 'unregister'; readonly id: string }
  | { readonly type: 'replay'; readonly id: string; readonly seq: number }
  | { readonly type: 'pause'; readonly id: string }
  | { readonly type: 'resume'; readonly id: string }
  | { readonly type: 'list' }
  | { readonly type: 'help' }
  | { readonly type: 'quit' };

export type CommandError = BrokerError<'UNKNOWN_COMMAND' | 'BAD_ARGS' | 'BAD_PATTERN' | 'BAD_ADDRESS'>;

/** The usage lines HELP prints, one per command. */
export const COMMAND_USAGE = [
  'REGISTER <id> <proto>://<host>:<port>[/path] [pattern ...]  register (or update) a push consumer; proto is tcp, udp, ws, http, wss or https',
  'SUBSCRIBE <id> <pattern> [pattern ...]                     add patterns to a consumer',
  'UNSUBSCRIBE <id> <pattern> [pattern ...]                   remove patterns from a consumer',
  'UNREGISTER <id>                                            remove a consumer',
  'REPLAY <id> <seq>                                          deliver that consumer\'s messages again from <seq>',
  'PAUSE <id>                                                 deliver nothing to that consumer until RESUME; its position is kept',
  'RESUME <id>                                                deliver to that consumer again',
  'LIST                                                       consumers: id address patterns state position lag= in_flight= dead_letters= [ack_timeout_ms= max_deliveries= max_in_flight=] [last_failure_at= last_failure=]',
  'HELP                                                       this list',
  'QUIT                                                       close the connection',
] as const;

const fail = (code: CommandError['code'], reason: string): Result<never, CommandError> => err(brokerError(code, reason));

export function parseRegistrationLine(line: string): Result<RegistrationCommand, CommandError> {
  const words = line.trim().split(/\s+/).filter((w) => w !== '');
  const keyword = words[0]?.toUpperCase();
  const args = words.slice(1);
  switch (keyword) {
    case undefined:
      return fail('UNKNOWN_COMMAND', 'empty line; HELP lists the commands');
    case 'REGISTER': {
      const [id, address, ...patterns] = args;
      if (id === undefined || address === undefined) return fail('BAD_ARGS', 'usage: REGISTER <id> <proto>://<host>:<port>[/path] [pattern ...]');
      const parsed = parseAddress(address);
      if (parsed.isErr()) return err(parsed.error);
      return checkPatterns(patterns).map((p) => ({ type: 'register', id, address: parsed.value, patterns: p }) as const);
    }
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      const [id, ...patterns] = args;
      const type = keyword === 'SUBSCRIBE' ? 'subscribe' : 'unsubscribe';
      if (id === undefined || patterns.length === 0) return fail('BAD_ARGS', `usage: ${keyword} <id> <pattern> [pattern ...]`);
      return checkPatterns(patterns).map((p) => ({ type, id, patterns: p }) as const);
    }
    case 'UNREGISTER':
    case 'PAUSE':
    case 'RESUME':
      if (args.length !== 1) return fail('BAD_ARGS', `usage: ${keyword} <id>`);
      return ok({ type: keyword === 'UNREGISTER' ? 'unregister' : keyword === 'PAUSE' ? 'pause' : 'resume', id: args[0]! });
    case 'REPLAY': {
      const [id, seqText] = args;
      if (
        id === undefined ||
        seqText === undefined ||
        args.length !== 2 ||
        !/^\d+$/.test(seqText) ||
        Number(seqText) < 1 ||
        !Number.isSafeInteger(Number(seqText))
      ) {
        return fail('BAD_ARGS', 'usage: REPLAY <id> <seq>, seq a whole number from 1');
      }
      return ok({ type: 'replay', id, seq: Number(seqText) });
    }
    case 'LIST':
    case 'HELP':
    case 'QUIT':
      if (args.length > 0) return fail('BAD_ARGS', `${keyword} takes no arguments`);
      return ok({ type: keyword === 'LIST' ? 'list' : keyword === 'HELP' ? 'help' : 'quit' });
    default:
      return fail('UNKNOWN_COMMAND', `unknown command ${JSON.stringify(words[0]!.slice(0, 40))}; HELP lists the commands`);
  }
}

export interface ConsumerLine {
  readonly id: string;
  readonly address: string | null;
  readonly patterns: readonly string[];
  readonly state: string;
  readonly position: number;
  readonly lag: number;
  readonly inFlight: number;
  readonly deadLetters: number;
  /** The last failed push attempt; absent or null: none. */
  readonly lastFailure?: { readonly at: number; readonly error: string } | null | undefined;
  /** The limits the consumer has of its own (null: the setting's, not shown); absent: none. */
  readonly ownLimits?: { readonly ackTimeoutMs: number | null; readonly maxDeliveries: number | null; readonly maxInFlight: number | null } | undefined;
}

/**
 * One LIST line: `<id> <address> <patterns, comma-separated> <state> <position>`, `-` for nothing, then
 * `key=value` fields: `lag=`, `in_flight=`, `dead_letters=`, each limit the consumer has of its own
 * (`ack_timeout_ms=`, `max_deliveries=`, `max_in_flight=`; one it takes from the settings is left out), and for
 * a consumer with a failed push attempt kept, `last_failure_at=<ms> last_failure=<text>`, the text
 * percent-encoded (encodeURIComponent) so that it holds no space or `=` and a line still splits on spaces into
 * its fields.
 */
export const formatConsumerLine = (c: ConsumerLine): string =>
  `${c.id} ${c.address ?? '-'} ${c.patterns.length > 0 ? c.patterns.join(',') : '-'} ${c.state} ${c.position}` +
  ` lag=${c.lag} in_flight=${c.inFlight} dead_letters=${c.deadLetters}` +
  ownLimitFields(c.ownLimits) +
  (c.lastFailure == null ? '' : ` last_failure_at=${c.lastFailure.at} last_failure=${encodeURIComponent(c.lastFailure.error)}`);

function ownLimitFields(limits: ConsumerLine['ownLimits']): string {
  if (limits === undefined) return '';
  const { ackTimeoutMs, maxDeliveries, maxInFlight } = limits;
  return (
    (ackTimeoutMs === null ? '' : ` ack_timeout_ms=${ackTimeoutMs}`) +
    (maxDeliveries === null ? '' : ` max_deliveries=${maxDeliveries}`) +
    (maxInFlight === null ? '' : ` max_in_flight=${maxInFlight}`)
  );
}
