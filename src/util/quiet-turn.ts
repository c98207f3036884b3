// Waiting out input already on its way: a connection that the broker ends while the client's last lines or
// frames are still in the kernel's buffer would leave them unanswered.

/**
 * Calls `then` after a turn of the event loop in which `received()` (a count of reads that only goes up)
 * did not change: whatever had arrived by then has been read.
 */
export function afterQuietTurn(received: () => number, then: () => void): void {
  let seen = received();
  const look = (): void => {
    const now = received();
    if (now === seen) return then();
    seen = now;
    setImmediate(look);
  };
  setImmediate(look);
}
