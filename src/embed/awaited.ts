// The awaited form of a Result: the embedding API's calls resolve with the value or reject with an
// EventBusError, as any Node library's do; the Result forms stay for callers who branch on them.
import type { Result, ResultAsync } from 'neverthrow';
import { EventBusError } from '../client/errors.js';
import type { BrokerError } from '../errors.js';

export async function orReject<T, E extends BrokerError>(result: ResultAsync<T, E> | Promise<Result<T, E>>): Promise<T> {
  const settled = await result;
  if (settled.isErr()) throw EventBusError.from(settled.error);
  return settled.value;
}
