// Retry delays for push delivery: exponential with full jitter, so consumers that failed together do not
// retry together. Pure: the random source is a parameter.

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

// 100 ms doubles to the 30 s cap in nine steps: a consumer back after a restart is found within seconds,
// and one that is down for hours costs a connection attempt every 15 s on average.
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 30_000 };

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * random());
}
