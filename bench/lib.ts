// Benchmark helpers: progress on stderr, percentiles, the readable table.
import { performance } from 'node:perf_hooks';
import type { Result } from 'neverthrow';

export const now = (): number => performance.now();

/** A step the run cannot go on without: its Result's value; its error ends the run. */
export function must<T>(result: Result<T, { readonly message: string }>): T {
  if (result.isErr()) throw new Error(`the benchmark cannot go on: ${result.error.message}`, { cause: result.error });
  return result.value;
}

/**
 * The node flags `npm start` runs the broker with (package.json): the bench's broker processes use them too,
 * so they measure the broker as it is started. The README says why (short GC pauses).
 */
export const BROKER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--max-semi-space-size=4'];

export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #t0 = now();
  #last = 0;

  constructor(label: string, total: number) {
    this.#label = label;
    this.#total = total;
  }

  tick(done: number, force = false): void {
    const t = now();
    if (!force && t - this.#last < 1000) return;
    this.#last = t;
    const rate = Math.round((done * 1000) / Math.max(1, t - this.#t0));
    process.stderr.write(`  ${this.#label}: ${done}/${this.#total} (${((t - this.#t0) / 1000).toFixed(1)} s, ${rate} msg/s)\n`);
  }

  end(done: number): void {
    this.tick(done, true);
  }
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export class Latencies {
  #values = new Float64Array(1024);
  #n = 0;

  add(ms: number): void {
    if (this.#n === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#n++] = ms;
  }

  summary(): { p50: number; p99: number; max: number } {
    const s = this.#values.slice(0, this.#n).sort();
    return { p50: round(percentile(s, 0.5)), p99: round(percentile(s, 0.99)), max: round(s[s.length - 1] ?? NaN) };
  }
}

export const round = (v: number, digits = 3): number => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);
export const rate = (count: number, ms: number): number => Math.round((count * 1000) / ms);

export interface Row {
  readonly name: string;
  readonly msgs: number;
  readonly msgPerSec?: number | undefined;
  /** This row's msg/s divided by the raw limit it is compared with. */
  readonly vsLimit?: number | undefined;
  readonly p50?: number | undefined;
  readonly p99?: number | undefined;
  readonly rssMb?: number | undefined;
  readonly note?: string | undefined;
}

export function table(rows: readonly Row[]): string {
  const header = ['workload', 'msgs', 'msg/s', 'vs limit', 'p50 ms', 'p99 ms', 'RSS MB', 'note'];
  const cells = rows.map((r) => [
    r.name,
    r.msgs.toLocaleString('en-US'),
    r.msgPerSec === undefined ? '' : r.msgPerSec.toLocaleString('en-US'),
    r.vsLimit === undefined ? '' : `${r.vsLimit.toFixed(2)}x`,
    r.p50 === undefined ? '' : r.p50.toFixed(2),
    r.p99 === undefined ? '' : r.p99.toFixed(2),
    r.rssMb === undefined ? '' : String(r.rssMb),
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => (i === 0 || i === 7 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}
