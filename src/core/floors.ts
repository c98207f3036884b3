// What a durable stream's progress batches tell the store of its position: its floor (every matching message
// up to it is acked, dead-lettered or filtered out) each time it moves, and the rewinds the store has not
// written yet, from whose seq on the attempt counts it holds are void. Shared, each partition held has its
// floor (Partitions.heldFloors).

export class Floors {
  /** The floor last handed to the ProgressWriter. */
  #saved: number;
  /** The lowest seq rewound to since takeRewind() last looked. */
  #rewoundTo = Infinity;
  /** From this seq on, attempt counts in the store predate a rewind whose progress batch is not written yet. */
  #countsVoidFrom = Infinity;

  constructor(startSeq: number) {
    this.#saved = startSeq - 1;
  }

  /** The stream's `floor` if it moved since last asked, for the ProgressWriter to write. */
  takeChange(floor: number): number | undefined {
    if (floor === this.#saved) return undefined;
    this.#saved = floor;
    return floor;
  }

  rewound(seq: number): void {
    this.#rewoundTo = Math.min(this.#rewoundTo, seq);
    this.#countsVoidFrom = Math.min(this.#countsVoidFrom, seq);
  }

  /** The lowest seq the stream was rewound to since last asked (its stored counts from there on are void). */
  takeRewind(): number | undefined {
    const seq = this.#rewoundTo;
    this.#rewoundTo = Infinity;
    return seq === Infinity ? undefined : seq;
  }

  /** The progress batch holding the rewind to `seq` is written: the store's counts are current again. */
  rewindWritten(seq: number): void {
    if (this.#rewoundTo === Infinity && seq <= this.#countsVoidFrom) this.#countsVoidFrom = Infinity;
  }

  /**
   * Shared: the stored attempt counts from this seq on are void (Infinity when none are). A rewind gives the
   * partitions back at once, and the next heartbeat may take them again before the progress batch that deletes
   * the old counts is written; counts read then must not be taken up.
   */
  get countsVoidFrom(): number {
    return this.#countsVoidFrom;
  }
}
