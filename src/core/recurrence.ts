// When a recurring schedule fires: cron expressions (5 or 6 fields, in an IANA time zone, daylight-saving
// changes as croner handles them) and fixed intervals, bounded by start_at and end_at. Pure.
import { Cron } from 'croner';
import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';

export interface Recurrence {
  readonly cron: string | null;
  readonly everyMs: number | null;
  readonly timezone: string;
  readonly startAt: number | null;
  readonly endAt: number | null;
  readonly createdAt: number;
}

/** The shortest interval an `every` schedule may have. */
export const MIN_EVERY_MS = 1000;
// Fire times counted one by one when a broker catches up; beyond, the count of missed fires is a lower bound.
const MAX_COUNTED = 100_000;

/** Whether `zone` is an IANA time zone this runtime knows. */
export function knownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** A cron expression croner reads, with 5 or 6 fields (seconds first when 6); BAD_ARGS with croner's reason otherwise. */
export function checkCron(expression: string, timezone: string): Result<Cron, BrokerError<'BAD_ARGS'>> {
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) return err(brokerError('BAD_ARGS', `cron must have 5 or 6 fields, not ${fields}`));
  try {
    return ok(cronOf(expression, timezone));
  } catch (e) {
    return err(brokerError('BAD_ARGS', `cron ${JSON.stringify(expression)}: ${(e as Error).message}`));
  }
}

/** The first fire time after `after` (ms), or null when there is none before end_at. */
export function nextFire(r: Recurrence, after: number): number | null {
  const from = r.startAt === null ? after : Math.max(after, r.startAt - 1);
  let next: number | null;
  if (r.everyMs !== null) {
    // start_at, then every every_ms after it; without start_at, the first fire is one interval after creation.
    const base = r.startAt ?? r.createdAt + r.everyMs;
    next = from < base ? base : base + (Math.floor((from - base) / r.everyMs) + 1) * r.everyMs;
  } else {
    const run = cronOf(r.cron!, r.timezone).nextRun(new Date(from));
    next = run === null ? null : run.getTime();
  }
  return next !== null && r.endAt !== null && next > r.endAt ? null : next;
}

/**
 * Catching up at `now` from a due fire time `due`: the latest fire time at or before `now` (fired once), how
 * many others were passed over, and the next one after `now`.
 */
export function catchUp(r: Recurrence, due: number, now: number): { fire: number; missed: number; next: number | null } {
  let fire = due;
  let missed = 0;
  if (r.everyMs !== null) {
    const steps = Math.max(0, Math.floor((now - due) / r.everyMs));
    fire = due + steps * r.everyMs;
    missed = steps;
    if (r.endAt !== null && fire > r.endAt) {
      const back = Math.ceil((fire - r.endAt) / r.everyMs);
      fire -= back * r.everyMs;
      missed -= back;
    }
  } else {
    for (let t = nextFire(r, fire); t !== null && t <= now && missed < MAX_COUNTED; t = nextFire(r, t)) {
      fire = t;
      missed++;
    }
  }
  return { fire, missed, next: nextFire(r, Math.max(fire, now)) };
}

/** The expression read with seconds first when it has 6 fields; throws what croner finds wrong with it. */
function cronOf(expression: string, timezone: string): Cron {
  const fields = expression.trim().split(/\s+/).length;
  return new Cron(expression, { timezone, paused: true, mode: fields === 6 ? '6-part' : '5-part' });
}
