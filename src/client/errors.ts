// The one error class the client rejects with, and the embedding API too: the one error shape of errors.ts
// ({code, message, cause?}) as an Error. Connection trouble the client sees itself is UNAVAILABLE, as the
// broker would say it.
import { ERROR_CODES, type BrokerError, type ErrorCode } from '../errors.js';

export class EventBusError extends Error implements BrokerError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventBusError';
    this.code = code;
  }

  /** A Result's error as a rejection: the same code and message, and its cause (for the log) kept. */
  static from(e: BrokerError): EventBusError {
    return e instanceof EventBusError ? e : new EventBusError(e.code, e.message, e.cause === undefined ? undefined : { cause: e.cause });
  }

  /**
   * An error frame's code and message. The broker sends only the codes of ERROR_CODES; one this client does
   * not know (a newer broker's) keeps its name in the message and counts as UNAVAILABLE.
   */
  static fromWire(code: string, message: string): EventBusError {
    return isErrorCode(code) ? new EventBusError(code, message) : new EventBusError('UNAVAILABLE', `${code}: ${message}`);
  }
}

const CODES: ReadonlySet<string> = new Set(ERROR_CODES);
const isErrorCode = (code: string): code is ErrorCode => CODES.has(code);
