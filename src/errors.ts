// The closed set of error codes users see on the wire (PROTOCOL.md §3–§5), and the error value that carries
// one. Expected failures travel as neverthrow Results of BrokerError; exceptions are reserved for bugs.

export const ERROR_CODES = [
  'BAD_FORMAT',
  'BAD_TOPIC',
  'BAD_PATTERN',
  'BAD_ARGS',
  'BAD_ADDRESS',
  'BAD_FRAME',
  'TOO_LARGE',
  'UNKNOWN_COMMAND',
  'UNKNOWN_CONSUMER',
  'UNKNOWN_SUBSCRIPTION',
  'UNKNOWN_MESSAGE',
  'UNKNOWN_SCHEDULE',
  'UNKNOWN_ROUTE',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'UNAVAILABLE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface BrokerError<C extends ErrorCode = ErrorCode> {
  readonly code: C;
  /** One line, safe to show a client. */
  readonly message: string;
  /** For the log only, never sent to a client. */
  readonly cause?: unknown;
}

/** The reason of the UNAVAILABLE refusal while the broker stops (PROTOCOL.md §3: `ERR UNAVAILABLE shutting down`). */
export const SHUTTING_DOWN = 'shutting down';

export function brokerError<C extends ErrorCode>(code: C, message: string, cause?: unknown): BrokerError<C> {
  return cause === undefined ? { code, message } : { code, message, cause };
}

/** Ends an exhaustive switch: the type checker proves it unreachable, and at run time it is a bug. */
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
