// Ctrl-C (and, for replay, SIGTERM and SIGHUP) for the commands that run until they are done or stopped (tail,
// replay): the signal aborts a signal that their waits take, instead of ending the process, so that they
// finish their own way (tail exits 0, replay removes its temporary consumer first).
import { constants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** The exit code a process ended by `signal` has, as shells report it: 128 + its number (130 for SIGINT). */
export const signalExitCode = (signal: StopSignal): number => 128 + constants.signals[signal];

/**
 * Runs `work` with a signal that any of `signals` aborts, for as long as it runs; the abort's reason is the
 * signal's name. A second signal while `work` is finishing ends the process at once, with the signal's exit
 * code: whoever sends it twice wants it gone (a stuck clean-up is then left to what it left behind).
 */
export async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>, signals: readonly StopSignal[] = ['SIGINT']): Promise<T> {
  const stop = new AbortController();
  const interrupted = (signal: StopSignal): void => {
    if (stop.signal.aborted) process.exit(signalExitCode(signal));
    stop.abort(signal);
  };
  for (const s of signals) process.on(s, interrupted);
  try {
    return await work(stop.signal);
  } finally {
    for (const s of signals) process.removeListener(s, interrupted);
  }
}

/** Waits `ms` (none when 0 or less); false when `signal` ended the wait or had already. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms > 0) await delay(ms, undefined, { signal }).catch(() => {});
  return !isAborted(signal);
}

/** Read through a call, so that a check after an await is not taken as already known. */
export const isAborted = (signal: AbortSignal): boolean => signal.aborted;
