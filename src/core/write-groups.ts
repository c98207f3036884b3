// Writes that arrive while one is on its way go together in the next, one transaction for many callers, as the
// committer does for the log's appends. On a store whose writes queue one at a time (PostgreSQL's), a
// transaction per caller caps a burst at one round trip each.
import { err, ResultAsync, type Result } from 'neverthrow';

interface Waiter<T, R, E> {
  readonly items: readonly T[];
  resolve(result: Result<R[], E>): void;
}

export class WriteGroups<T, R, E> {
  readonly #write: (items: T[]) => ResultAsync<R[], E>;
  readonly #maxItems: number;
  #waiting: Waiter<T, R, E>[] = [];
  #busy = false;

  /** `write` stores all of its items or none, and answers one result per item, in order. */
  constructor(write: (items: T[]) => ResultAsync<R[], E>, maxItems: number) {
    this.#write = write;
    this.#maxItems = maxItems;
  }

  /** Writes `items` with whatever else is waiting; all of a group are written or none. */
  write(items: readonly T[]): ResultAsync<R[], E> {
    const done = new Promise<Result<R[], E>>((resolve) => this.#waiting.push({ items, resolve }));
    if (!this.#busy) {
      this.#busy = true;
      // The rest of this turn's callers join the first group.
      setImmediate(() => this.#next());
    }
    return new ResultAsync(done);
  }

  #next(): void {
    if (this.#waiting.length === 0) {
      this.#busy = false;
      return;
    }
    let count = 0;
    let taken = 0;
    while (taken < this.#waiting.length && (taken === 0 || count + this.#waiting[taken]!.items.length <= this.#maxItems)) {
      count += this.#waiting[taken]!.items.length;
      taken++;
    }
    const group = this.#waiting.splice(0, taken);
    void this.#write(group.flatMap((w) => w.items)).then((result) => {
      let offset = 0;
      for (const w of group) {
        w.resolve(result.isOk() ? result.map((all) => all.slice(offset, offset + w.items.length)) : err(result.error));
        offset += w.items.length;
      }
      this.#next();
    });
  }
}
