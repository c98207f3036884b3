// The dashboard's Credentials panel (PROTOCOL.md §12), on an admin's page only (its section is `data-admin`):
// the stored credentials (GET /api/credentials, never a token), a form that makes one, and Rotate and Remove on
// each. A token the broker answers (a credential made or rotated) is shown once, in a box of its own, until
// Done: it is kept nowhere else, the page's table included. Read again on each tick of the stats stream, as
// the schedules are, and after each change.
import { apiUrl, call, hasToken, type Credential, type IssuedCredential } from './api.js';
import { $, act, buttons, canAdminister, cell, fill, showProblem, time } from './page.js';

const form = $('new-credential') as HTMLFormElement;
const issued = $('issued');
let reading = false;

/** A pattern list as typed: comma- or space-separated, blanks dropped. */
const patternList = (text: string): string[] => text.split(/[\s,]+/).filter((p) => p !== '');

/** The token just made, with whose it is, in the box, replacing any shown before. */
function showToken(made: IssuedCredential): void {
  $('issued-name').textContent = made.name;
  $('issued-token').textContent = made.token;
  issued.hidden = false;
  issued.scrollIntoView({ block: 'nearest' });
}

function render(list: readonly Credential[]): void {
  fill('credentials', list, 'no stored credential', (tr, c) => {
    tr.dataset.credential = c.name;
    cell(tr, c.name, 'name');
    cell(tr, c.publish.join(', '), 'publish');
    cell(tr, c.subscribe.join(', '), 'subscribe');
    cell(tr, c.consumers.join(', '), 'consumers');
    cell(tr, c.monitor ? 'yes' : 'no', 'monitor');
    cell(tr, c.admin ? 'yes' : 'no', 'admin');
    cell(tr, c.publish_rate === null ? 'no limit' : `${c.publish_rate}/s`, 'num publish-rate');
    cell(tr, time(c.created_at), 'time created');
    cell(tr, c.last_used_at === null ? 'never' : time(c.last_used_at), 'time last-used');
    const path = `credentials/${encodeURIComponent(c.name)}`;
    const closed = 'Its current token stops working at once, and what is connected with it is disconnected.';
    buttons(
      tr,
      [
        'Rotate',
        () => {
          if (confirm(`Give ${c.name} a new token? ${closed}`)) act(() => call<IssuedCredential>('POST', apiUrl(`${path}/rotate`)).then(showToken).then(refreshCredentials));
        },
      ],
      [
        'Remove',
        () => {
          if (confirm(`Remove the credential ${c.name}? ${closed}`)) act(() => call('DELETE', apiUrl(path)).then(refreshCredentials));
        },
      ],
    );
  });
}

/** Reads the list again (an admin's page only); a tick while a read is on its way is skipped. */
export function refreshCredentials(): void {
  if (!canAdminister() || reading) return;
  reading = true;
  call<Credential[]>('GET', apiUrl('credentials'))
    .then(render, showProblem)
    .finally(() => {
      reading = false;
    });
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const field = (name: string): string => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
  const checked = (name: string): boolean => (form.elements.namedItem(name) as HTMLInputElement).checked;
  const body: Record<string, unknown> = { name: field('name'), monitor: checked('monitor'), admin: checked('admin') };
  for (const list of ['publish', 'subscribe', 'consumers']) {
    const patterns = patternList(field(list));
    if (patterns.length > 0) body[list] = patterns;
  }
  if (field('publish_rate') !== '') body.publish_rate = Number(field('publish_rate'));
  act(() =>
    call<IssuedCredential>('POST', apiUrl('credentials'), body).then((made) => {
      form.reset();
      showToken(made);
      refreshCredentials();
    }),
  );
});

$('issued-done').addEventListener('click', () => {
  $('issued-token').textContent = '';
  $('issued-name').textContent = '';
  issued.hidden = true;
});

// While no token is checked (none set, no credential stored), the first credential made turns the check on.
$('credentials-first').hidden = hasToken;
