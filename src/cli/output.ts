// How the operator commands print for people: tables (cli-table3) on stdout, and progress on stderr: a bar
// (cli-progress) when stderr is a terminal, else one summary line at the end, so that a script's stderr holds
// nothing but that line and failures.
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import type { CliContext } from './command.js';

/** A table with a header row; cells are printed as they are. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  // No line between rows, no colors: a table reads the same in a terminal, a pipe and a test.
  const t = new Table({ head: [...head], style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
  t.push(...rows.map((r) => r.map(String)));
  return [t.toString()];
}

/** A cell's text cut to `width` characters, on one line. */
export function cell(text: string, width = 40): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** A time as the API's ms, in UTC, ISO 8601 (whole seconds without `.000`); `-` for none. */
export const timeCell = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.000Z$/, 'Z'));

export interface Progress {
  /** Moves the bar to `done` (of `total`, which may be raised). */
  update(done: number, total?: number): void;
  /** Ends the bar, or prints the summary line when there is no bar. */
  finish(summary: string): void;
  /** Ends the bar with nothing more printed (a failure follows). */
  stop(): void;
}

export function progress(ctx: CliContext, label: string, total: number): Progress {
  if (ctx.stderr.isTTY !== true) {
    return { update: () => {}, finish: (summary) => void ctx.stderr.write(`${summary}\n`), stop: () => {} };
  }
  const bar = new SingleBar({
    stream: ctx.stderr as NodeJS.WritableStream,
    format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}`,
    hideCursor: true,
    clearOnComplete: false,
  });
  bar.start(total, 0);
  return {
    update: (done, newTotal) => {
      if (newTotal !== undefined) bar.setTotal(newTotal);
      bar.update(done);
    },
    finish: (summary) => {
      bar.stop();
      ctx.stderr.write(`${summary}\n`);
    },
    stop: () => {
      bar.stop();
    },
  };
}
