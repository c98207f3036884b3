// The dashboard served at GET / (docs/dashboard.md): the figures of GET /api/stats/stream drawn live, and
// the consumer, dead-letter and message calls of the HTTP API behind its buttons and forms; the schedules
// panel is schedules.ts, the credentials panel credentials.ts. What the page's token may do is read first
// (readAccess in page.ts): read-only without admin, one message and nothing else without monitor either.
// Bundled with uPlot and inlined into one page by `npm run build` (scripts/build-ui.mjs).
import { ApiError, apiUrl, call, cannotMonitor, streamUrl, type Consumer, type DeadLetter, type Message, type StatsEvent, type Topic, type WhoAmI } from './api.js';
import { HistoryChart } from './charts.js';
import { refreshCredentials } from './credentials.js';
import { $, act, buttons, cell, fill, readAccess, showProblem, time } from './page.js';
import { refreshSchedules } from './schedules.js';
import './dashboard.css';

const ratesChart = new HistoryChart($('rates-chart'));
const lagChart = new HistoryChart($('lag-chart'));
const deadLettersConsumer = $('dead-letters-consumer') as HTMLSelectElement;
let consumers: Consumer[] = [];
/** The dead-letter count of the consumer shown, when its list was last read: a change reads it again. */
let deadLettersShown: { id: string; count: number } | undefined;

function renderTopics(topics: readonly Topic[]): void {
  fill('topics', topics, 'no topic in the log', (tr, t) => {
    tr.dataset.topic = t.topic;
    cell(tr, t.topic, 'name');
    cell(tr, t.messages);
    cell(tr, t.first_seq);
    cell(tr, t.last_seq);
    cell(tr, t.published_per_s);
  });
}

/** When and what, the text cut by the style and whole in the cell's tooltip; empty when there is none. */
function lastFailureCell(tr: HTMLTableRowElement, failure: Consumer['last_failure']): void {
  const td = cell(tr, failure === null ? '' : `${time(failure.at)}: ${failure.error}`, 'last-failure');
  if (failure !== null) td.title = failure.error;
}

function renderConsumers(list: readonly Consumer[]): void {
  fill('consumers', list, 'no durable consumer', (tr, c) => {
    tr.dataset.consumer = c.id;
    if (c.paused) tr.classList.add('paused');
    cell(tr, c.id, 'name');
    cell(tr, c.address ?? '(API / SDK)', 'address');
    cell(tr, c.patterns.join(', '), 'patterns');
    cell(tr, c.state, 'state');
    cell(tr, c.position, 'num position');
    cell(tr, c.lag, 'num lag');
    cell(tr, c.in_flight, 'num in-flight');
    cell(tr, c.dead_letters, 'num dead-letters');
    lastFailureCell(tr, c.last_failure);
    cell(tr, c.ack_timeout_ms % 1000 === 0 ? `${c.ack_timeout_ms / 1000} s` : `${c.ack_timeout_ms} ms`, 'num ack-timeout');
    cell(tr, c.max_deliveries, 'num max-deliveries');
    cell(tr, c.max_in_flight, 'num max-in-flight');
    buttons(tr, [c.paused ? 'Resume' : 'Pause', () => act(() => call('POST', apiUrl(`consumers/${encodeURIComponent(c.id)}/${c.paused ? 'resume' : 'pause'}`)))]);
  });
  const chosen = deadLettersConsumer.value;
  const ids = list.map((c) => c.id);
  if (ids.join('\n') !== [...deadLettersConsumer.options].map((o) => o.value).join('\n')) {
    deadLettersConsumer.replaceChildren(...ids.map((id) => new Option(id, id)));
    // The consumer with dead letters, when the one shown is gone or none was chosen.
    deadLettersConsumer.value = ids.includes(chosen) ? chosen : (list.find((c) => c.dead_letters > 0)?.id ?? ids[0] ?? '');
  }
  const shown = list.find((c) => c.id === deadLettersConsumer.value);
  if (shown === undefined) fill('dead-letters', [], 'no consumer', () => undefined);
  else if (deadLettersShown?.id !== shown.id || deadLettersShown.count !== shown.dead_letters) void loadDeadLetters(shown);
}

async function loadDeadLetters(consumer: Consumer): Promise<void> {
  deadLettersShown = { id: consumer.id, count: consumer.dead_letters };
  const path = `consumers/${encodeURIComponent(consumer.id)}/dead-letters`;
  try {
    const page = await call<{ dead_letters: DeadLetter[] }>('GET', apiUrl(path, { limit: '100' }));
    $('dead-letters-status').textContent = consumer.dead_letters > page.dead_letters.length ? `the first ${page.dead_letters.length} of ${consumer.dead_letters}` : '';
    fill('dead-letters', page.dead_letters, `no dead letter for ${consumer.id}`, (tr, d) => {
      tr.dataset.seq = String(d.seq);
      cell(tr, d.seq);
      cell(tr, d.topic, 'topic');
      cell(tr, d.payload, 'payload').title = d.payload;
      cell(tr, d.reason, 'reason');
      cell(tr, d.deliveries);
      cell(tr, time(d.dead_at), 'time');
      buttons(tr, ['Requeue', () => act(() => call('POST', apiUrl(`${path}/requeue`), { seqs: [d.seq] }))]);
    });
  } catch (e) {
    showProblem(e);
  }
}

function deadLetterAction(method: string, suffix: string, question: (id: string) => string): void {
  const id = deadLettersConsumer.value;
  if (id === '' || !confirm(question(id))) return;
  act(() => call(method, apiUrl(`consumers/${encodeURIComponent(id)}/dead-letters${suffix}`), {}));
}

deadLettersConsumer.addEventListener('change', () => {
  const shown = consumers.find((c) => c.id === deadLettersConsumer.value);
  if (shown !== undefined) void loadDeadLetters(shown);
});
$('requeue-all').addEventListener('click', () => deadLetterAction('POST', '/requeue', (id) => `Deliver every dead letter of ${id} to it again?`));
$('purge-all').addEventListener('click', () => deadLetterAction('DELETE', '', (id) => `Delete every dead letter of ${id}? They are not delivered again.`));

// --- the message browser ---

const browse = $('browse') as HTMLFormElement;
const nextPage = $('next-page') as HTMLButtonElement;
let nextSeq: number | undefined;

async function loadMessages(fromSeq?: number): Promise<void> {
  const form = new FormData(browse);
  const field = (name: string): string | undefined => (form.get(name) as string | null) ?? undefined;
  const fromTime = field('from_time');
  const query = {
    from_seq: fromSeq !== undefined ? String(fromSeq) : field('from_seq'),
    from_time: fromSeq === undefined && fromTime !== undefined && fromTime !== '' && (field('from_seq') ?? '') === '' ? String(new Date(fromTime).getTime()) : undefined,
    pattern: field('pattern'),
    limit: field('limit'),
  };
  const page = await call<{ messages: Message[]; next_seq: number }>('GET', apiUrl('messages', query));
  nextSeq = page.next_seq;
  nextPage.disabled = page.messages.length === 0;
  fill('messages', page.messages, 'no message there', (tr, m) => {
    tr.dataset.seq = String(m.seq);
    cell(tr, m.seq);
    cell(tr, m.topic, 'topic');
    cell(tr, m.payload, 'payload').title = m.payload;
    cell(tr, m.message_id ?? '', 'message-id');
    cell(tr, time(m.created_at), 'time');
    cell(tr, m.status, 'status');
  });
}

browse.addEventListener('submit', (e) => {
  e.preventDefault();
  act(() => loadMessages());
});
nextPage.addEventListener('click', () => act(() => loadMessages(nextSeq)));

// --- live figures ---

function onStats(stats: StatsEvent): void {
  consumers = stats.consumers;
  $('node').textContent = stats.node_id;
  $('head-seq').textContent = String(stats.head_seq);
  $('published-rate').textContent = String(stats.published_per_s);
  $('delivered-rate').textContent = String(stats.delivered_per_s);
  renderTopics(stats.topics);
  renderConsumers(stats.consumers);
  ratesChart.add(stats.at, new Map([['published/s', stats.published_per_s], ['delivered/s', stats.delivered_per_s]]));
  lagChart.add(stats.at, new Map(stats.consumers.map((c) => [c.id, c.lag])));
  refreshSchedules();
  refreshCredentials();
}

function connect(): void {
  const live = $('live');
  const events = new EventSource(streamUrl('stats/stream'));
  events.addEventListener('open', () => {
    live.className = 'on';
    live.textContent = 'live';
  });
  events.addEventListener('stats', (e) => {
    onStats(JSON.parse((e as MessageEvent<string>).data) as StatsEvent);
  });
  events.addEventListener('unavailable', (e) => {
    const failure = JSON.parse((e as MessageEvent<string>).data) as { code: string; message: string };
    showProblem(new ApiError(failure.code, failure.message));
  });
  events.addEventListener('error', () => {
    live.className = 'off';
    live.textContent = 'reconnecting…';
    // EventSource retries by itself, except after an answer that is not an event stream (401): ask why.
    if (events.readyState === EventSource.CLOSED) {
      call('GET', apiUrl('stats')).then(() => setTimeout(connect, 2000), (err: unknown) => {
        showProblem(err);
        setTimeout(connect, 5000);
      });
    }
  });
}

/**
 * The page as its token may see it. The message browser reads topics (`subscribe`, not `monitor`): it is left
 * out for a credential that may read none, and starts on its first pattern for one that may not read them all.
 */
function start(me: WhoAmI): void {
  $('credential').textContent = me.admin ? `as ${me.name}` : `as ${me.name}, read-only`;
  if (!me.admin && !me.monitor) {
    $('live').hidden = true;
    showProblem(cannotMonitor(me.name));
    return;
  }
  document.querySelector('main')!.hidden = false;
  if (!me.admin && me.subscribe.length === 0) $('messages-panel').remove();
  else {
    if (!me.admin && !me.subscribe.includes('#')) (browse.elements.namedItem('pattern') as HTMLInputElement).value = me.subscribe[0]!;
    act(() => loadMessages());
  }
  connect();
}

readAccess().then(start, (e: unknown) => {
  $('live').hidden = true;
  showProblem(e);
});
