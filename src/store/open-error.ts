// Why a store could not be opened, for either store: the broker's one error shape, with what kind of
// problem it was beside the code. A start-up failure, never sent to a client: the message is the one line
// the broker prints before it exits.
import { brokerError, type BrokerError } from '../errors.js';

/** What went wrong: the file or database cannot be written (or reached), another broker holds it, it is
 * not a database, or it holds another application's tables. */
export type StoreOpenProblem = 'unwritable' | 'locked' | 'corrupt' | 'foreign';

export interface StoreOpenError extends BrokerError<'UNAVAILABLE'> {
  readonly kind: StoreOpenProblem;
}

export function storeOpenError(kind: StoreOpenProblem, message: string, cause?: unknown): StoreOpenError {
  return { ...brokerError('UNAVAILABLE', message, cause), kind };
}
