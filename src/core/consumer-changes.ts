// The changes to durable consumers made on this broker, for reading a view of a shared store against them
// (cluster.ts): each change is counted, so that a view read before it does not undo it, and a rewind is
// followed until its write settles, as a view's leases and positions may be from before it.

export class ConsumerChanges {
  #version = 0;
  readonly #changedAt = new Map<string, number>();
  /** Rewinds made here whose record is being written, by consumer: settles once it is written, or failed. */
  readonly #rewinding = new Map<string, Promise<void>>();
  /** Rewinds made here whose write settled, by consumer. */
  readonly #rewindsSettled = new Map<string, number>();

  /** The count of changes made here so far; a view of the store read after it holds them all. */
  get version(): number {
    return this.#version;
  }

  /** Consumer `id` was changed here (created, saved, removed). */
  changed(id: string): void {
    this.#changedAt.set(id, ++this.#version);
  }

  /** Whether `id` changed here after change `version`: a view of the store as of then is older. */
  changedSince(id: string, version: number): boolean {
    return (this.#changedAt.get(id) ?? 0) > version;
  }

  /** A rewind of `id` made here, whose record `saved` writes (settling either way). */
  rewound(id: string, saved: Promise<unknown>): void {
    const written: Promise<void> = saved.then(() => {
      this.#rewindsSettled.set(id, this.rewindsSettled(id) + 1);
      if (this.#rewinding.get(id) === written) this.#rewinding.delete(id);
    });
    this.#rewinding.set(id, written);
  }

  /**
   * A rewind of consumer `id` made here and being written: a view of the store read now may predate it (its
   * partitions' leases and positions from before it). Settles once it is written, or failed.
   */
  rewinding(id: string): Promise<void> | undefined {
    return this.#rewinding.get(id);
  }

  /** How many rewinds of `id` made here were written (or failed): one written during a read of the store may postdate it. */
  rewindsSettled(id: string): number {
    return this.#rewindsSettled.get(id) ?? 0;
  }
}
