// The dashboard's Schedules panel: a page of GET /api/schedules (recurring schedules and delayed messages not
// yet due, by id), of one kind or all, with each one's next and last fire; pause, resume and cancel behind
// its buttons (an admin's page only: buttons() in page.ts). Read again on each tick of the stats stream, so it
// refreshes with the other panels and stops with them, and never twice at once.
import { apiUrl, call, type Schedule } from './api.js';
import { $, act, buttons, cell, fill, showProblem, time } from './page.js';

// A page, not the whole list: a broker may hold a million delayed messages.
const PAGE = 100;

const kindChoice = $('schedules-kind') as HTMLSelectElement;
const nextPage = $('schedules-next') as HTMLButtonElement;
const firstPage = $('schedules-first') as HTMLButtonElement;
/** The `from` of the page shown (undefined: the first), and that of the page after it (null: none). */
let from: string | undefined;
let next: string | null = null;
let reading = false;

const UNITS: readonly [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** An interval in the largest unit that divides it, as `eventbus schedule add --every` takes it. */
function every(ms: number): string {
  const unit = UNITS.find(([, size]) => ms >= size && ms % size === 0);
  return unit === undefined ? `${ms}ms` : `${ms / unit[1]}${unit[0]}`;
}

/** A time in the reader's zone, with the exact UTC time on hover; a dash for none. */
function timeCell(tr: HTMLTableRowElement, ms: number | null, className: string): void {
  const td = cell(tr, ms === null ? '–' : time(ms), className);
  if (ms !== null) td.title = new Date(ms).toISOString();
}

function render(schedules: readonly Schedule[]): void {
  fill('schedules', schedules, kindChoice.value === '' ? 'no schedule' : `no ${kindChoice.value} schedule`, (tr, s) => {
    tr.dataset.schedule = s.id;
    if (s.paused) tr.classList.add('paused');
    cell(tr, s.id, 'name');
    cell(tr, s.kind, 'kind');
    cell(tr, s.topic, 'topic');
    cell(tr, s.cron ?? (s.every_ms === null ? '' : `every ${every(s.every_ms)}`), 'rule');
    cell(tr, s.timezone, 'timezone');
    timeCell(tr, s.next_at, 'time next-fire');
    timeCell(tr, s.last_at, 'time last-fire');
    cell(tr, s.fires, 'num fires');
    cell(tr, s.missed, 'num missed');
    cell(tr, s.paused ? 'paused' : 'active', 'state');
    const path = `schedules/${encodeURIComponent(s.id)}`;
    buttons(
      tr,
      [s.paused ? 'Resume' : 'Pause', () => act(() => call('POST', apiUrl(`${path}/${s.paused ? 'resume' : 'pause'}`)).then(refreshSchedules))],
      [
        'Cancel',
        () => {
          if (confirm(`Remove the schedule ${s.id}? ${s.kind === 'once' ? 'Its message is never appended.' : 'It fires no more.'}`)) act(() => call('DELETE', apiUrl(path)).then(refreshSchedules));
        },
      ],
    );
  });
}

/**
 * Reads the page shown again; a tick while a read is on its way is skipped. A read answered after another page
 * was chosen (a click during it) is not shown: the chosen page is read at once instead.
 */
export function refreshSchedules(): void {
  if (reading) return;
  reading = true;
  const query = { limit: String(PAGE), kind: kindChoice.value, from };
  let chosenSince = false;
  call<{ schedules: Schedule[]; next: string | null }>('GET', apiUrl('schedules', query))
    .then((page) => {
      chosenSince = query.from !== from || query.kind !== kindChoice.value;
      if (chosenSince) return;
      next = page.next;
      nextPage.disabled = next === null;
      firstPage.disabled = from === undefined;
      render(page.schedules);
    }, showProblem)
    .finally(() => {
      reading = false;
      if (chosenSince) refreshSchedules();
    });
}

function show(pageFrom: string | undefined): void {
  from = pageFrom;
  refreshSchedules();
}

kindChoice.addEventListener('change', () => show(undefined));
nextPage.addEventListener('click', () => {
  if (next !== null) show(next);
});
firstPage.addEventListener('click', () => show(undefined));
