// A queue of seqs kept as runs of consecutive numbers: a consumer acking a million messages in order is
// one run, not a million numbers. Pure.

/** Inclusive range of seqs. */
export interface SeqRun {
  readonly from: number;
  readonly to: number;
}

export class SeqRuns {
  #runs: { from: number; to: number }[] = [];
  #count = 0;

  get size(): number {
    return this.#count;
  }

  push(seq: number): void {
    const last = this.#runs[this.#runs.length - 1];
    if (last !== undefined && seq === last.to + 1) last.to = seq;
    else this.#runs.push({ from: seq, to: seq });
    this.#count++;
  }

  /** Removes and returns runs covering at most `maxSeqs` seqs, oldest first, splitting a run if needed. */
  take(maxSeqs: number): SeqRun[] {
    const out: SeqRun[] = [];
    let room = maxSeqs;
    while (room > 0 && this.#runs.length > 0) {
      const run = this.#runs[0]!;
      const length = run.to - run.from + 1;
      if (length <= room) {
        out.push({ from: run.from, to: run.to });
        this.#runs.shift();
        room -= length;
      } else {
        out.push({ from: run.from, to: run.from + room - 1 });
        run.from += room;
        room = 0;
      }
    }
    this.#count -= maxSeqs - room;
    return out;
  }
}
