// The error codes each Broker method promises, pinned by the type checker (`npm run check`): a method that
// starts failing with a new code, or stops using one, changes what every front-end must map, so it changes
// here on purpose. The front-ends' exhaustive switches over these codes rely on the unions being exact.
import type { Result, ResultAsync } from 'neverthrow';
import { expectTypeOf, test } from 'vitest';
import type { Broker } from '../../src/core/broker.js';

/** The error codes of a method's Result, sync or async. */
type CodesOf<M extends keyof Broker> = Broker[M] extends (...args: never[]) => infer R
  ? R extends ResultAsync<unknown, infer E> | Result<unknown, infer E> | Promise<Result<unknown, infer E>>
    ? E extends { readonly code: infer C } ? C : never
    : never
  : never;

test('publishing fails with a bad topic, a payload too large, bad arguments or an unavailable store', () => {
  expectTypeOf<CodesOf<'publish'>>().toEqualTypeOf<'BAD_TOPIC' | 'TOO_LARGE' | 'BAD_ARGS' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'publishBatch'>>().toEqualTypeOf<'BAD_TOPIC' | 'TOO_LARGE' | 'BAD_ARGS' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'reply'>>().toEqualTypeOf<'BAD_TOPIC' | 'TOO_LARGE' | 'BAD_ARGS' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'request'>>().toEqualTypeOf<'BAD_TOPIC' | 'TOO_LARGE' | 'BAD_ARGS' | 'BAD_PATTERN' | 'UNAVAILABLE'>();
});

test('subscribing and saving a consumer fail with a bad pattern, bad arguments or an unavailable store', () => {
  expectTypeOf<CodesOf<'subscribe'>>().toEqualTypeOf<'BAD_PATTERN' | 'BAD_ARGS' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'saveConsumer'>>().toEqualTypeOf<'BAD_PATTERN' | 'BAD_ARGS' | 'UNAVAILABLE'>();
});

test('a subscription id the broker does not know is the only failure of ack, nack and unsubscribe', () => {
  expectTypeOf<CodesOf<'ack'>>().toEqualTypeOf<'UNKNOWN_SUBSCRIPTION'>();
  expectTypeOf<CodesOf<'nack'>>().toEqualTypeOf<'UNKNOWN_SUBSCRIPTION'>();
  expectTypeOf<CodesOf<'unsubscribe'>>().toEqualTypeOf<'UNKNOWN_SUBSCRIPTION'>();
});

test('the operator surface fails with the thing it names unknown, bad arguments or an unavailable store', () => {
  expectTypeOf<CodesOf<'removeConsumer'>>().toEqualTypeOf<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'pauseConsumer'>>().toEqualTypeOf<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'resumeConsumer'>>().toEqualTypeOf<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'consumerReport'>>().toEqualTypeOf<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'replay'>>().toEqualTypeOf<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'deadLetters'>>().toEqualTypeOf<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'requeueDeadLetters'>>().toEqualTypeOf<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'deleteDeadLetters'>>().toEqualTypeOf<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'message'>>().toEqualTypeOf<'UNKNOWN_MESSAGE' | 'UNAVAILABLE'>();
});

test('reads of the whole log fail only when the store is unavailable', () => {
  expectTypeOf<CodesOf<'consumerReports'>>().toEqualTypeOf<'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'messages'>>().toEqualTypeOf<'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'seqAtTime'>>().toEqualTypeOf<'UNAVAILABLE'>();
  expectTypeOf<CodesOf<'topics'>>().toEqualTypeOf<'UNAVAILABLE'>();
});
