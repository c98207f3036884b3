// Acks waiting for the writer thread, gathered in typed arrays. During a replay tens of thousands of acks
// wait at once; held in growing JS arrays they were copied by every young-generation GC until the flush,
// while a typed array's contents live outside the JS heap and are never copied.
import type { AckColumns } from './store-port.js';

const INITIAL_CAPACITY = 1024;

export class PendingAcks {
  #consumers: string[] = [];
  readonly #consumerIndex = new Map<string, number>();
  /** The consumer of the last push and its index: a catch-up pushes thousands in a row for one consumer. */
  #lastConsumer: string | undefined;
  #lastIndex = 0;
  #consumerOf = new Uint32Array(INITIAL_CAPACITY);
  #seqs = new Float64Array(INITIAL_CAPACITY);
  #deliveries = new Uint32Array(INITIAL_CAPACITY);
  #ats = new Float64Array(INITIAL_CAPACITY);
  #sentAts = new Float64Array(INITIAL_CAPACITY);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(consumer: string, seq: number, delivery: number, at: number, sentAt: number): void {
    if (this.#length === this.#seqs.length) this.#grow();
    let c = consumer === this.#lastConsumer ? this.#lastIndex : this.#consumerIndex.get(consumer);
    if (c === undefined) {
      c = this.#consumers.push(consumer) - 1;
      this.#consumerIndex.set(consumer, c);
    }
    this.#lastConsumer = consumer;
    this.#lastIndex = c;
    const i = this.#length++;
    this.#consumerOf[i] = c;
    this.#seqs[i] = seq;
    this.#deliveries[i] = delivery;
    this.#ats[i] = at;
    this.#sentAts[i] = sentAt;
  }

  /** Every ack so far, in arrays of their own (the buffers are reused); leaves the buffer empty. */
  take(): AckColumns {
    const n = this.#length;
    const acks: AckColumns = {
      consumers: this.#consumers,
      consumerOf: this.#consumerOf.slice(0, n),
      seqs: this.#seqs.slice(0, n),
      deliveries: this.#deliveries.slice(0, n),
      ats: this.#ats.slice(0, n),
      sentAts: this.#sentAts.slice(0, n),
    };
    this.#length = 0;
    this.#consumers = [];
    this.#consumerIndex.clear();
    this.#lastConsumer = undefined;
    return acks;
  }

  #grow(): void {
    const capacity = this.#seqs.length * 2;
    this.#consumerOf = grown(this.#consumerOf, new Uint32Array(capacity));
    this.#seqs = grown(this.#seqs, new Float64Array(capacity));
    this.#deliveries = grown(this.#deliveries, new Uint32Array(capacity));
    this.#ats = grown(this.#ats, new Float64Array(capacity));
    this.#sentAts = grown(this.#sentAts, new Float64Array(capacity));
  }
}

function grown<T extends Uint32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
