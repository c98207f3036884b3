// Reading out input already on its way when the broker stops: a connection ended while the client's last
// lines or frames are still in the kernel's buffer would leave them unanswered. A client that never stops
// sending always has more on its way, so this is bounded in time and in what each turn reads: what comes
// after is not read, and the client can tell, since everything read gets its answer before the end.

/**
 * How long a stopping broker reads on for input already on its way (a few turns of the event loop under
 * load), so that a client's last lines before it could know of the stop are answered rather than dropped.
 */
export const READ_ON_MS = 100;

/**
 * Reads on until a turn of the event loop brings nothing new (`received()`, a count of reads that only goes
 * up, did not change), or for `atMostMs` however much is still arriving, then calls `then`. `readOne` is
 * called once a turn to let the next read in (the caller pauses again after each), so a client that floods
 * costs a turn no more than one read.
 */
export function readOn(received: () => number, readOne: () => void, then: () => void, atMostMs: number): void {
  const deadline = performance.now() + atMostMs;
  let seen = received();
  const look = (): void => {
    const now = received();
    if (now === seen || performance.now() >= deadline) return then();
    seen = now;
    readOne();
    setImmediate(look);
  };
  readOne();
  // The read readOne() lets in comes in the next turn's poll, before its immediates.
  setImmediate(look);
}
