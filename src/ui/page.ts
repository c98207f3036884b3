// What every panel of the dashboard shares: the page's elements by id, its problem line, what its token may do,
// and tables built from the API's answers (rebuilt only when what they show changes).
import { ApiError, apiUrl, call, NEEDS_TOKEN, type WhoAmI } from './api.js';

export const $ = (id: string): HTMLElement => document.getElementById(id)!;

export function showProblem(e: unknown): void {
  const problem = $('problem');
  problem.hidden = false;
  problem.textContent = e instanceof ApiError ? (e.code === 'UNAUTHORIZED' ? NEEDS_TOKEN : `${e.code}: ${e.message}`) : String(e);
}

export function clearProblem(): void {
  $('problem').hidden = true;
}

/** Runs a button's call, showing its failure rather than losing it. */
export function act(work: () => Promise<unknown>): void {
  work().then(clearProblem, showProblem);
}

export function cell(row: HTMLTableRowElement, text: string | number, className?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = String(text);
  if (className !== undefined) td.className = className;
  else if (typeof text === 'number') td.className = 'num';
  return td;
}

// --- what the page's token may do (PROTOCOL.md §12) ---

let access: WhoAmI | undefined;

/**
 * Reads what the page's token may do (GET /api/whoami), once, before any panel is shown. A credential without
 * admin gets a read-only page: every element marked `data-admin` (the buttons and forms that change the broker,
 * the columns they sit in, the Credentials panel) leaves the page, and buttons() makes none.
 */
export async function readAccess(): Promise<WhoAmI> {
  const me = await call<WhoAmI>('GET', apiUrl('whoami'));
  access = me;
  if (!me.admin) for (const part of document.querySelectorAll('[data-admin]')) part.remove();
  return me;
}

/** Whether the page may act on the broker: false until readAccess() has said so. */
export const canAdminister = (): boolean => access?.admin === true;

/**
 * The buttons that act on a row, in one cell at its end; on a read-only page (canAdminister false) none, and no
 * cell: the column's header is `data-admin`, gone with the rest.
 */
export function buttons(row: HTMLTableRowElement, ...list: readonly (readonly [label: string, onClick: () => void])[]): void {
  if (!canAdminister()) return;
  const td = row.insertCell();
  td.className = 'buttons';
  for (const [label, onClick] of list) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.addEventListener('click', onClick);
    td.append(b);
  }
}

/** What each table shows now: a table is built again only when that changes, so a selection or a hover survives the ticks. */
const tableContents = new Map<string, string>();

export function fill<T>(table: string, items: readonly T[], empty: string, row: (tr: HTMLTableRowElement, item: T) => void): void {
  const key = `${empty}\n${JSON.stringify(items)}`;
  if (tableContents.get(table) === key) return;
  tableContents.set(table, key);
  const body = ($(table) as HTMLTableElement).tBodies[0]!;
  body.replaceChildren();
  if (items.length === 0) {
    const tr = body.insertRow();
    tr.className = 'empty';
    const td = cell(tr, empty, '');
    td.colSpan = ($(table) as HTMLTableElement).tHead!.rows[0]!.cells.length;
  }
  for (const item of items) row(body.insertRow(), item);
}

export const time = (ms: number): string => new Date(ms).toLocaleString();
