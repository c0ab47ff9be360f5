// The compare tab: params side by side (differences marked) and one metric's curves overlaid.
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import uPlot from 'uplot';
import { curves } from './charts';
import { h, formatValue } from './dom';
import { requestAPI, query } from './handler';
import { Comparison, MetricHistories, Run } from './models';

export class CompareView extends Widget {
  private _plot: uPlot | null = null;
  private _runs: Run[] = [];

  constructor(readonly runIds: string[]) {
    super();
    this.addClass('aieng-ui');
    this.addClass('aieng-view');
    this.addClass('aieng-compare-view');
    void this.load();
  }

  async load(): Promise<void> {
    try {
      const [comparison, ...runs] = await Promise.all([
        requestAPI<Comparison>(`compare${query({ run_ids: this.runIds.join(',') })}`),
        ...this.runIds.map(id => requestAPI<Run>(`runs/${id}`))
      ]);
      this._runs = runs;
      this.render(comparison);
    } catch (error) {
      this.node.replaceChildren(h('div', { class: 'aieng-error' }, String((error as Error).message)));
    }
  }

  private render(comparison: Comparison): void {
    const head = h('tr', {}, h('th', {}, ''), h('th', {}, 'key'), ...this._runs.map(r => h('th', { title: r.run_id }, r.name || r.run_id.slice(0, 8))));
    const body = comparison.rows.map(row =>
      h(
        'tr',
        { class: row.differs ? 'aieng-differs' : '', 'data-differs': row.differs ? 'true' : 'false' },
        h('td', {}, row.section),
        h('td', {}, row.key),
        ...row.values.map(v => h('td', {}, v))
      )
    );
    const table = h('table', { class: 'aieng-table aieng-compare-table' }, h('thead', {}, head), h('tbody', {}, ...body));
    const keys = Array.from(new Set(this._runs.flatMap(r => Object.keys(r.metrics)))).sort();
    const select = h('select', { class: 'aieng-select', 'aria-label': 'metric to plot' }, ...keys.map(k => h('option', { value: k }, k)));
    const chart = h('div', { class: 'aieng-chart' });
    select.addEventListener('change', () => void this.plot(select.value, chart));
    this.node.replaceChildren(
      h('h2', {}, `Compare ${this._runs.length} runs`),
      h('div', { class: 'aieng-legend' }, 'Highlighted rows differ.'),
      table,
      keys.length ? h('div', { class: 'aieng-toolbar' }, h('label', {}, 'Metric '), select) : h('p', {}, 'No metrics logged.'),
      chart
    );
    if (keys.length) {
      void this.plot(keys[0], chart);
    }
  }

  private async plot(key: string, node: HTMLElement): Promise<void> {
    const data = await requestAPI<MetricHistories>(
      `metric-histories${query({ run_ids: this.runIds.join(','), key, max_points: 2000 })}`
    );
    this._plot?.destroy();
    node.replaceChildren();
    const labels = this._runs.map(r => r.name || r.run_id.slice(0, 8));
    this._plot = curves(node, data.histories, labels, Math.max(this.node.clientWidth - 40, 320));
    node.setAttribute('data-metric', key);
  }

  dispose(): void {
    this._plot?.destroy();
    super.dispose();
  }

  // exposed for formatting tests of values
  static format = formatValue;
}

export function compareTab(runIds: string[]): MainAreaWidget<CompareView> {
  const widget = new MainAreaWidget({ content: new CompareView(runIds) });
  widget.id = `aieng-compare-${runIds.join('-').slice(0, 80)}`;
  widget.title.label = `Compare ${runIds.length} runs`;
  widget.title.closable = true;
  return widget;
}
