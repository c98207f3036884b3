// Time-ordered message ids (UUIDv7, RFC 9562 §5.7) for publishes that come without one: the log's unique
// index on message_id then grows at its end. uuid's v7() asks WebCrypto for 16 random bytes on every call,
// which costs more than the rest of a publish; here the bytes come from a pool refilled 4 KiB at a time, the
// millisecond and the counter that keeps one millisecond's ids increasing follow uuid's own v7 rules, and
// uuid still lays out the bytes. docs/internals.md has the figures.
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const POOL_BYTES = 4096;
const ID_BYTES = 16;
const pool = new Uint8Array(POOL_BYTES);
let taken = POOL_BYTES;
let lastMs = -Infinity;
let counter = 0;

export function timeOrderedId(): string {
  if (taken + ID_BYTES > POOL_BYTES) {
    randomFillSync(pool);
    taken = 0;
  }
  const random = pool.subarray(taken, (taken += ID_BYTES));
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    counter = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    counter = (counter + 1) | 0;
    if (counter === 0) lastMs++; // 2^31 ids in one millisecond: borrow the next one
  }
  return v7({ random, msecs: lastMs, seq: counter });
}
