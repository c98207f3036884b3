// What every panel of the dashboard shares: the page's elements by id, its problem line, and tables built from
// the API's answers (rebuilt only when what they show changes).
import { ApiError, NEEDS_TOKEN } from './api.js';

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

/** A button in a cell of its own at the row's end, or in `td` when given (several buttons in one cell). */
export function button(row: HTMLTableRowElement, label: string, onClick: () => void, td: HTMLTableCellElement = row.insertCell()): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.addEventListener('click', onClick);
  td.append(b);
  return b;
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
