// The seqs a connection-based push consumer wrote recently: TCP says nothing about what the peer read, so
// when a connection breaks, whatever may still have been in the two ends' socket buffers is not known
// delivered and is sent again (at-least-once). Pure.

// Linux autotunes loopback and LAN socket buffers to a few MiB per direction; 8 MiB of the most recent
// writes covers the sender's and the receiver's buffers together.
export const UNCONFIRMED_BYTES = 8 * 1024 * 1024;

export class UnconfirmedWrites {
  readonly #limitBytes: number;
  #seqs: number[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;

  constructor(limitBytes = UNCONFIRMED_BYTES) {
    this.#limitBytes = limitBytes;
  }

  written(seq: number, bytes: number): void {
    this.#seqs.push(seq);
    this.#sizes.push(bytes);
    this.#bytes += bytes;
    // Keep the newest writes that fit in the limit, but always the last one.
    while (this.#bytes > this.#limitBytes && this.#seqs.length - this.#head > 1) {
      this.#bytes -= this.#sizes[this.#head]!;
      this.#head++;
    }
    if (this.#head > 4096 && this.#head * 2 > this.#seqs.length) {
      this.#seqs = this.#seqs.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The oldest write that may not have been read, and forgets them all; undefined when there are none. */
  takeOldest(): number | undefined {
    let oldest: number | undefined;
    for (let i = this.#head; i < this.#seqs.length; i++) if (oldest === undefined || this.#seqs[i]! < oldest) oldest = this.#seqs[i]!;
    this.#seqs = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
    return oldest;
  }
}
