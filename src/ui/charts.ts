// Time-series charts over the last minutes, drawn by uPlot: a window of samples kept in the page, one line
// per series; a chart whose set of series changes (a consumer came or went) is built again.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

// At one sample a second, ten minutes.
const MAX_SAMPLES = 600;
// The least the time axis spans, so that the first samples sit at its right end, a second apart.
const MIN_SPAN_S = 60;
const COLORS = ['#3e63dd', '#e5484d', '#30a46c', '#f76b15', '#8e4ec6', '#12a594', '#d6409f', '#946800'];

export class HistoryChart {
  readonly #host: HTMLElement;
  readonly #times: number[] = [];
  /** Samples by series name; a series that appeared late is null before. */
  readonly #series = new Map<string, (number | null)[]>();
  #plot: uPlot | undefined;
  #plotted = '';

  constructor(host: HTMLElement) {
    this.#host = host;
    new ResizeObserver(() => this.#plot?.setSize(this.#size())).observe(host);
  }

  /** Adds one sample of every series, at `atMs`; series missing from `values` end there. */
  add(atMs: number, values: ReadonlyMap<string, number>): void {
    this.#times.push(atMs / 1000);
    for (const [name, value] of values) {
      if (!this.#series.has(name)) this.#series.set(name, new Array<number | null>(this.#times.length - 1).fill(null));
      this.#series.get(name)!.push(value);
    }
    for (const [name, samples] of this.#series) {
      if (!values.has(name)) samples.push(null);
    }
    if (this.#times.length > MAX_SAMPLES) {
      this.#times.shift();
      for (const samples of this.#series.values()) samples.shift();
    }
    for (const [name, samples] of this.#series) {
      if (samples.every((v) => v === null)) this.#series.delete(name);
    }
    this.#draw();
  }

  #size(): { width: number; height: number } {
    return { width: Math.max(200, this.#host.clientWidth), height: 180 };
  }

  #draw(): void {
    const names = [...this.#series.keys()];
    const data: uPlot.AlignedData = [this.#times, ...names.map((n) => this.#series.get(n)!)];
    if (this.#plot !== undefined && this.#plotted === names.join('\n')) {
      this.#plot.setData(data);
      this.#plot.setScale('x', this.#window());
      return;
    }
    this.#plot?.destroy();
    this.#plotted = names.join('\n');
    this.#plot = new uPlot(
      {
        ...this.#size(),
        scales: {
          // Set by #draw: uPlot's own range for a single time stamp is a thousand days.
          x: { time: true, auto: false },
          y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
        // What the time axis spans, for the tests that check it in a real browser.
        hooks: {
          setScale: [
            (u, key) => {
              if (key === 'x') this.#host.dataset['spanSeconds'] = String((u.scales['x']!.max ?? 0) - (u.scales['x']!.min ?? 0));
            },
          ],
        },
        series: [{}, ...names.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false }))],
        axes: [{}, { size: 60 }],
      },
      data,
      this.#host,
    );
    this.#plot.setScale('x', this.#window());
  }

  /** The time axis: the samples kept, and at least the last MIN_SPAN_S seconds. */
  #window(): { min: number; max: number } {
    const max = this.#times.at(-1) ?? Date.now() / 1000;
    return { min: Math.min(this.#times[0] ?? max, max - MIN_SPAN_S), max };
  }
}
