// Fires what is due: delayed messages and recurring schedules, appended to the log through the committer like
// any publish, exactly once each. A fire is first claimed in the store (its row moved on from the next_at it
// was read with, which only one broker can do) with the fire time kept in firing_at, then appended with a
// message_id made from the schedule and that time, then cleared. Whoever finds a claim not cleared (after a
// crash, on any broker) appends the same message again, which the log's unique message_id answers as a
// duplicate if it got there already: a kill at any point doubles nothing. Every broker on a shared store
// fires on time; the claim lets one of them have each fire, so none needs a lease to hold back.
import type { Logger } from '../logger.js';
import type { Committer, PendingRow } from './committer.js';
import { catchUp } from './recurrence.js';
import type { ScheduleClaim, ScheduleRecord, ScheduleStore } from './schedule-records.js';

/** Due schedules read and fired at a time. */
const PAGE = 1000;
// The longest the scheduler sleeps: schedules another broker adds are found this late at most.
const POLL_MS = 1000;
// A claim not cleared this long after it was made is taken to be a dead broker's, and appended again here.
const STALE_CLAIM_MS = 1000;

export interface SchedulerOptions {
  readonly store: ScheduleStore;
  readonly committer: Committer;
  readonly now: () => number;
  readonly logger: Logger;
}

/** The message_id a fire appends with: the delayed message's own, or one per schedule and fire time. */
export function fireMessageId(schedule: Pick<ScheduleRecord, 'id' | 'messageId'>, firingAt: number): string {
  return schedule.messageId ?? `schedule:${schedule.id}:${firingAt}`;
}

export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #firedListeners: ((lateMs: number) => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires. */
  #armedFor = Infinity;
  #running = false;
  #again = false;
  #stopped = false;

  constructor(options: SchedulerOptions) {
    this.#o = options;
  }

  start(): void {
    this.wake();
  }

  /** Calls `listener` for each message appended for a fire, with how late after its fire time (the metrics). */
  onFired(listener: (lateMs: number) => void): void {
    this.#firedListeners.push(listener);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** A schedule stored here falls due at `at`: woken then, if that is sooner than planned. */
  added(at: number): void {
    if (at < this.#armedFor) this.#arm(at);
  }

  /** Fires what is due now, then sleeps until the next is. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#pass().finally(() => {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  async #pass(): Promise<void> {
    const { store, now, logger } = this.#o;
    for (;;) {
      const at = now();
      const due = await store.due(at, at - STALE_CLAIM_MS, PAGE);
      if (due.isErr()) {
        logger.warn('could not read the schedules that are due; tried again shortly', { reason: due.error.message });
        break;
      }
      const fired = await this.#fire(due.value);
      if (!fired || due.value.length < PAGE || this.#stopped) break;
    }
    if (this.#stopped) return;
    const next = await store.nextDue();
    this.#arm(next.isOk() && next.value !== null ? next.value : Infinity);
  }

  /** Claims, appends and clears one page of due schedules; false when the store failed on the way. */
  async #fire(due: readonly ScheduleRecord[]): Promise<boolean> {
    if (due.length === 0) return true;
    const { store, committer, now, logger } = this.#o;
    const at = now();
    const claims: (ScheduleClaim & { readonly schedule: ScheduleRecord })[] = [];
    for (const s of due) {
      if (s.firingAt !== null || s.nextAt === null) continue;
      if (s.kind === 'once') claims.push({ schedule: s, id: s.id, nextAt: s.nextAt, firingAt: s.nextAt, next: null, missed: 0, at });
      else {
        const { fire, missed, next } = catchUp(s, s.nextAt, at);
        claims.push({ schedule: s, id: s.id, nextAt: s.nextAt, firingAt: fire, next, missed, at });
      }
    }
    // Only the claim crosses to the store (to the SQLite writer thread, by copy), not the schedule it is of.
    const taken = await store.claim(claims.map(({ schedule: _, ...claim }) => claim));
    if (taken.isErr()) {
      logger.warn('could not claim the schedules that are due; tried again shortly', { reason: taken.error.message });
      return false;
    }
    // Claims left over from before, and the ones just taken.
    const firing = due.flatMap((s) => (s.firingAt !== null ? [{ schedule: s, firingAt: s.firingAt }] : []));
    for (const c of claims) if (taken.value.has(c.id)) firing.push({ schedule: c.schedule, firingAt: c.firingAt });
    if (firing.length === 0) return true;
    const appended = await committer.append(firing.map(({ schedule, firingAt }) => fireRow(schedule, firingAt)));
    if (appended.isErr()) {
      logger.warn('could not append the schedules that are due; tried again shortly', { reason: appended.error.message });
      return false;
    }
    const done = now();
    for (const [i, a] of appended.value.entries()) {
      if (!a.duplicate) for (const listener of this.#firedListeners) listener(done - firing[i]!.firingAt);
    }
    const cleared = await store.fired(firing.map(({ schedule, firingAt }) => ({ id: schedule.id, firingAt })));
    if (cleared.isErr()) logger.warn('could not clear the fired schedules; they are appended, and cleared later', { reason: cleared.error.message });
    return cleared.isOk();
  }

  #arm(at: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    const wait = Math.min(POLL_MS, Math.max(0, at - this.#o.now()));
    this.#armedFor = this.#o.now() + wait;
    this.#timer = setTimeout(() => {
      this.#armedFor = Infinity;
      this.wake();
    }, wait).unref();
  }
}

/** The message a fire appends: the schedule's, with its schedule_id and scheduled_at in the metadata. */
function fireRow(s: ScheduleRecord, firingAt: number): PendingRow {
  // A delayed message was scheduled when it was published; a recurring one's message, for its fire time.
  const scheduledAt = s.kind === 'once' ? s.createdAt : firingAt;
  const added = `"schedule_id":${JSON.stringify(s.id)},"scheduled_at":${scheduledAt}}`;
  const metadataTail = s.metadata === '{}' ? `{${added}` : `${s.metadata.slice(0, -1)},${added}`;
  return { topic: s.topic, payload: s.payload, messageId: fireMessageId(s, firingAt), metadataTail, ttlSeconds: s.ttlSeconds, orderingKey: s.orderingKey };
}
