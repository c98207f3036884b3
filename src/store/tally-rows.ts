// The rows both stores read for consumers' tallies (EventStore.consumerTallies), gathered per consumer.
import type { ConsumerTally, MessageRef, TallyQuery } from '../core/store-port.js';

/** A message of one consumer's, as the tally statements give it. */
export interface ConsumerMessageRef extends MessageRef {
  readonly consumer: string;
}

/** Every consumer asked about, with its rows (none when the statements gave none). */
export function talliesOf(
  queries: readonly TallyQuery[],
  resolved: readonly ConsumerMessageRef[],
  requeued: readonly ConsumerMessageRef[],
  deadLetters: readonly { consumer: string; n: number }[],
): Map<string, ConsumerTally> {
  const tallies = new Map<string, { resolved: MessageRef[]; requeued: MessageRef[]; deadLetters: number }>();
  for (const q of queries) tallies.set(q.consumer, { resolved: [], requeued: [], deadLetters: 0 });
  for (const r of resolved) tallies.get(r.consumer)?.resolved.push({ seq: r.seq, topic: r.topic });
  for (const r of requeued) tallies.get(r.consumer)?.requeued.push({ seq: r.seq, topic: r.topic });
  for (const d of deadLetters) {
    const t = tallies.get(d.consumer);
    if (t !== undefined) t.deadLetters = d.n;
  }
  return tallies;
}
