// Fires what is due: delayed messages and recurring schedules, appended to the log through the committer like
// any publish, exactly once each. A fire is claimed in the transaction that appends its message: the row
// moves on from the next_at it was read with (a delayed message's row is removed), which only one broker can
// do, and the message is appended only if it did. A kill at any point leaves either both or neither, so
// nothing is lost or doubled, and every broker on a shared store can fire on time without a lease. The
// message_id made from the schedule and its fire time keeps the log's own guarantee behind that.
import type { Logger } from '../logger.js';
import type { Committer, PendingRow } from './committer.js';
import { catchUp } from './recurrence.js';
import type { ScheduleClaim, ScheduleRecord, ScheduleStore } from './schedule-records.js';

/** Due schedules read and fired at a time. */
const PAGE = 1000;
// The longest the scheduler sleeps: schedules another broker adds are found this late at most.
const POLL_MS = 1000;
// How long the scheduler leaves due schedules it could not take, because another broker was firing them.
const CONTENDED_MS = 20;

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
    let earliest = 0;
    for (;;) {
      const at = now();
      const due = await store.due(at, PAGE);
      if (due.isErr()) {
        logger.warn('could not read the schedules that are due; tried again shortly', { reason: due.error.message });
        break;
      }
      const taken = await this.#fire(due.value);
      // The store failed (it said why), or another broker is firing these: left for a while.
      if (taken === undefined) earliest = now() + POLL_MS;
      else if (taken === 0 && due.value.length > 0) earliest = now() + CONTENDED_MS;
      if (taken === undefined || taken === 0 || due.value.length < PAGE || this.#stopped) break;
    }
    if (this.#stopped) return;
    const next = await store.nextDue();
    this.#arm(Math.max(earliest, next.isOk() && next.value !== null ? next.value : Infinity));
  }

  /** Claims and appends one page of due schedules: how many it took; undefined when the store failed. */
  async #fire(due: readonly ScheduleRecord[]): Promise<number | undefined> {
    if (due.length === 0) return 0;
    const { committer, now, logger } = this.#o;
    const at = now();
    const rows = due.map((s) => {
      const { fire, missed, next } = s.kind === 'once' ? { fire: s.nextAt!, missed: 0, next: null } : catchUp(s, s.nextAt!, at);
      return fireRow(s, { id: s.id, kind: s.kind, nextAt: s.nextAt!, firingAt: fire, next, missed, at });
    });
    const appended = await committer.append(rows);
    if (appended.isErr()) {
      logger.warn('could not append the schedules that are due; tried again shortly', { reason: appended.error.message });
      return undefined;
    }
    const done = now();
    let taken = 0;
    for (const [i, a] of appended.value.entries()) {
      if (a.duplicate && a.seq === 0) continue;
      taken++;
      if (!a.duplicate) for (const listener of this.#firedListeners) listener(done - rows[i]!.claim!.firingAt);
    }
    return taken;
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
function fireRow(s: ScheduleRecord, claim: ScheduleClaim): PendingRow {
  const { firingAt } = claim;
  // A delayed message was scheduled when it was published; a recurring one's message, for its fire time.
  const scheduledAt = s.kind === 'once' ? s.createdAt : firingAt;
  const added = `"schedule_id":${JSON.stringify(s.id)},"scheduled_at":${scheduledAt}}`;
  const metadataTail = s.metadata === '{}' ? `{${added}` : `${s.metadata.slice(0, -1)},${added}`;
  return { topic: s.topic, payload: s.payload, messageId: fireMessageId(s, firingAt), metadataTail, ttlSeconds: s.ttlSeconds, orderingKey: s.orderingKey, claim };
}
