// Whether a store can be written, as both stores track it: any failed write marks it unwritable (logged
// once) and starts a probe every second; only a write known to have written something (an append, the
// probe) marks it writable again, since a delete that finds nothing to delete succeeds even on a full disk.
import { ResultAsync } from 'neverthrow';
import type { StorageError } from '../core/store-port.js';
import type { Logger } from '../logger.js';

const PROBE_INTERVAL_MS = 1000;

export class Writability {
  readonly #log: Logger;
  readonly #toError: (e: unknown) => StorageError;
  /** Tries a write; the outcome is noted through track(…, true). */
  readonly #probe: () => Promise<void>;
  #unwritable: StorageError | undefined;
  #timer: NodeJS.Timeout | undefined;
  #probing = false;

  /** `toError` turns a storage failure into StorageError and rethrows anything else (a bug). */
  constructor(logger: Logger, toError: (e: unknown) => StorageError, probe: () => Promise<void>) {
    this.#log = logger;
    this.#toError = toError;
    this.#probe = probe;
  }

  /** Why the last write failed, while no write has proved the store writable since. */
  failure(): StorageError | undefined {
    return this.#unwritable;
  }

  /** A write as a ResultAsync; `proves`: its success shows the store can be written. */
  track<T>(pending: Promise<T>, proves = false): ResultAsync<T, StorageError> {
    return ResultAsync.fromPromise(
      !proves
        ? pending
        : pending.then((value) => {
            if (this.#unwritable !== undefined) this.#writable();
            return value;
          }),
      (e) => {
        const error = this.#toError(e);
        if (this.#unwritable === undefined) this.#failed(error);
        else this.#unwritable = error;
        return error;
      },
    );
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #failed(error: StorageError): void {
    this.#unwritable = error;
    this.#log.error('the database cannot be written; publishes are answered UNAVAILABLE until it can', { reason: error.message });
    this.#timer = setInterval(() => void this.#tryProbe(), PROBE_INTERVAL_MS).unref();
  }

  async #tryProbe(): Promise<void> {
    if (this.#probing) return; // a write held up by a lock must not queue a probe a second
    this.#probing = true;
    try {
      await this.#probe();
    } finally {
      this.#probing = false;
    }
  }

  #writable(): void {
    this.#unwritable = undefined;
    this.stop();
    this.#log.info('the database can be written again');
  }
}
