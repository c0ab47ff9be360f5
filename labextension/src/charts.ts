// Charts through uPlot (a maintained, small canvas chart library): row sparklines and overlaid curves.
import uPlot from 'uplot';
import { MetricHistory } from './models';
import { themeColor } from './dom';

const PALETTE = ['--jp-brand-color1', '--jp-warn-color1', '--jp-success-color1', '--jp-error-color1', '--jp-accent-color1'];
const FALLBACK = ['#1976d2', '#f57c00', '#388e3c', '#d32f2f', '#7b1fa2'];

function color(i: number): string {
  return themeColor(PALETTE[i % PALETTE.length], FALLBACK[i % FALLBACK.length]);
}

/** A tiny line of one run's metric (no axes), drawn into `node`. */
export function sparkline(node: HTMLElement, history: MetricHistory, width = 80, height = 22): uPlot {
  const xs = history.points.map(p => p.step);
  const ys = history.points.map(p => p.value);
  return new uPlot(
    {
      width,
      height,
      legend: { show: false },
      cursor: { show: false },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: false } },
      series: [{}, { stroke: color(0), width: 1.5, points: { show: false } }]
    },
    [xs, ys as (number | null)[]],
    node
  );
}

/** Curves of one metric for several runs on shared step axes. */
export function curves(node: HTMLElement, histories: MetricHistory[], labels: string[], width: number, height = 260): uPlot {
  const steps = Array.from(new Set(histories.flatMap(h => h.points.map(p => p.step)))).sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const series = histories.map(h => {
    const ys: (number | null)[] = new Array(steps.length).fill(null);
    for (const p of h.points) {
      ys[index.get(p.step)!] = p.value;
    }
    return ys;
  });
  const axis = { stroke: themeColor('--jp-ui-font-color1', '#333'), grid: { stroke: themeColor('--jp-border-color2', '#ddd') } };
  return new uPlot(
    {
      width,
      height,
      scales: { x: { time: false } },
      axes: [axis, axis],
      series: [{ label: 'step' }, ...labels.map((label, i) => ({ label, stroke: color(i), width: 2, spanGaps: true }))]
    },
    [steps, ...series],
    node
  );
}

export type XAxis = 'step' | 'time';

/** Exponential moving average (TensorBoard's smoothing): 0 leaves the values as they are. */
export function smooth(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) {
    return values;
  }
  let last: number | null = null;
  return values.map(v => {
    if (v === null || !Number.isFinite(v)) {
      return v;
    }
    last = last === null ? v : last * weight + (1 - weight) * v;
    return last;
  });
}

/**
 * One metric of one run: step or time (seconds since the first point) on x, the values smoothed by
 * `smoothing` (the raw values stay as a faint line), the values under the cursor in the legend.
 */
export function metricChart(node: HTMLElement, history: MetricHistory, x: XAxis, smoothing: number, width: number, height = 200): uPlot {
  const points = history.points;
  const t0 = points.length ? points[0].timestamp : 0;
  const xs = points.map(p => (x === 'step' ? p.step : (p.timestamp - t0) / 1000));
  const raw = points.map(p => p.value);
  const axis = { stroke: themeColor('--jp-ui-font-color1', '#333'), grid: { stroke: themeColor('--jp-border-color2', '#ddd') } };
  const series: uPlot.Series[] = [{ label: x === 'step' ? 'step' : 'seconds' }];
  const data: (number | null)[][] = [xs];
  if (smoothing > 0) {
    series.push({ label: 'raw', stroke: themeColor('--jp-border-color1', '#bbb'), width: 1 });
    data.push(raw);
  }
  series.push({ label: history.key, stroke: color(0), width: 2, spanGaps: true });
  data.push(smooth(raw, smoothing));
  return new uPlot(
    { width, height, scales: { x: { time: false } }, axes: [axis, axis], series, legend: { live: true } },
    data as uPlot.AlignedData,
    node
  );
}
