// Ctrl-C for the commands that run until they are done or stopped (tail, replay): SIGINT aborts a signal that
// their waits take, instead of ending the process, so that they finish their own way (tail exits 0, replay
// removes its temporary consumer first).
import { setTimeout as delay } from 'node:timers/promises';

/** Runs `work` with a signal that Ctrl-C aborts, for as long as it runs. */
export async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const interrupted = (): void => stop.abort();
  process.once('SIGINT', interrupted);
  try {
    return await work(stop.signal);
  } finally {
    process.removeListener('SIGINT', interrupted);
  }
}

/** Waits `ms` (none when 0 or less); false when `signal` ended the wait or had already. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms > 0) await delay(ms, undefined, { signal }).catch(() => {});
  return !isAborted(signal);
}

/** Read through a call, so that a check after an await is not taken as already known. */
export const isAborted = (signal: AbortSignal): boolean => signal.aborted;
