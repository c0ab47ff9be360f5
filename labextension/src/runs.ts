// The Runs section: a virtualized list of runs (10k+ scroll smoothly), filters, sparklines, compare.
import uPlot from 'uplot';
import { sparkline } from './charts';
import { button, emptyState, formatTime, formatValue, h, statusBadge } from './dom';
import { query, requestAPI } from './handler';
import { ExperimentPage, MetricHistories, Run, RUN_STATUS_VALUES, RunPage } from './models';
import { filterInput, filterSelect, IPanelContext, ISection, SectionState } from './section';

const ROW = 44; // px per row: rows are positioned, only the visible ones exist
const CHUNK = 1000; // runs fetched per request (the most the API gives at once)

export class RunsSection implements ISection {
  readonly id = 'runs';
  readonly label = 'Runs';
  readonly node = h('div', { class: 'aieng-section aieng-runs' });
  private _experiment = filterSelect('Experiment', [], () => this._filtersChanged());
  private _status = filterSelect('Status', [...RUN_STATUS_VALUES], () => this._filtersChanged());
  private _text = filterInput('Filter runs (name, id, lr=0.1)', () => this._filtersChanged());
  private _metric = h('select', { class: 'aieng-select jp-mod-styled', 'aria-label': 'Sparkline metric', hidden: true });
  private _compare = button('Compare', () => this._ctx.openCompare(Array.from(this._selected)), { disabled: true });
  private _viewport = h('div', { class: 'aieng-viewport', tabindex: 0, role: 'list', 'aria-label': 'runs' });
  private _spacer = h('div', { class: 'aieng-spacer' });
  private _summary = h('div', { class: 'aieng-summary' });
  private _chunks = new Map<number, Run[]>();
  private _loading = new Map<number, Promise<void>>();
  private _total = 0;
  private _exact = true; // false: runs on a server, the total is a lower bound that grows as pages load
  private _generation = 0;
  private _selected = new Set<string>();
  private _plots: uPlot[] = [];
  private _metricKeys = new Set<string>();
  private _sparkCache = new Map<string, MetricHistories['histories'][number]>();
  private _restoredMetric = '';

  constructor(private _ctx: IPanelContext) {
    this._metric.addEventListener('change', () => {
      this._ctx.saveState();
      this._draw();
    });
    this._viewport.append(this._spacer);
    this._viewport.addEventListener('scroll', () => this._draw());
    this.node.append(
      h('div', { class: 'aieng-toolbar' }, this._experiment, this._status),
      h('div', { class: 'aieng-toolbar' }, this._text, this._metric, this._compare),
      this._summary,
      this._viewport
    );
  }

  state(): SectionState {
    return { experiment: this._experiment.value, status: this._status.value, q: this._text.value, metric: this._metric.value };
  }

  restore(state: SectionState): void {
    this._experiment.dataset.restore = state.experiment ?? '';
    this._status.value = state.status ?? '';
    this._text.value = state.q ?? '';
    this._restoredMetric = state.metric ?? '';
  }

  private _filtersChanged(): void {
    this._ctx.saveState();
    this._selected.clear();
    this._total = 0; // a lower bound (runs on a server) is only kept while the filters stay
    this._viewport.scrollTop = 0;
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const generation = ++this._generation;
    this._chunks.clear();
    this._loading.clear();
    await Promise.all([this._loadExperiments(), this._loadChunk(0, generation)]);
    const first = Math.floor(this._viewport.scrollTop / ROW / CHUNK);
    if (first > 0) {
      await this._loadChunk(first, generation);
    }
    this._draw();
  }

  private async _loadExperiments(): Promise<void> {
    const page = await requestAPI<ExperimentPage>('experiments?limit=1000');
    const wanted = this._experiment.dataset.restore ?? this._experiment.value;
    delete this._experiment.dataset.restore;
    // runs null: an MLflow server, which cannot count runs: every experiment is listed
    const names = page.items.filter(e => e.runs !== 0 || e.name === wanted).map(e => e.name);
    this._experiment.replaceChildren(h('option', { value: '' }, 'Experiment: all'), ...names.map(n => h('option', { value: n }, n)));
    this._experiment.value = names.includes(wanted) ? wanted : '';
  }

  private _loadChunk(index: number, generation = this._generation): Promise<void> {
    const pending = this._loading.get(index);
    if (pending) {
      return pending;
    }
    const params = {
      experiment: this._experiment.value,
      status: this._status.value,
      q: this._text.value,
      offset: index * CHUNK,
      limit: CHUNK
    };
    const promise = requestAPI<RunPage>(`runs${query(params)}`)
      .then(page => {
        if (generation !== this._generation) {
          return;
        }
        this._total = Math.max(page.total_exact ? 0 : this._total, page.total);
        this._exact = page.total_exact;
        this._chunks.set(index, page.items);
        for (const run of page.items) {
          Object.keys(run.metrics).forEach(k => this._metricKeys.add(k));
        }
      })
      .catch(error => {
        this._summary.replaceChildren(h('span', { class: 'aieng-error' }, String((error as Error).message)));
      });
    this._loading.set(index, promise);
    return promise;
  }

  private _run(i: number): Run | undefined {
    return this._chunks.get(Math.floor(i / CHUNK))?.[i % CHUNK];
  }

  private _updateMetricChoices(): void {
    const current = this._metric.value || this._restoredMetric;
    const keys = Array.from(this._metricKeys).sort();
    if (keys.length === this._metric.options.length) {
      return;
    }
    this._metric.replaceChildren(...metricGroups(keys));
    this._metric.hidden = keys.length === 0; // nothing logged yet: no sparkline to choose
    if (keys.includes(current)) {
      this._metric.value = current;
    }
  }

  private _draw(): void {
    this._updateMetricChoices();
    const loaded = Array.from(this._chunks.values()).reduce((n, c) => n + c.length, 0);
    this.node.setAttribute('data-total', String(this._total));
    this.node.setAttribute('data-loaded', String(loaded));
    this._compare.disabled = this._selected.size < 2;
    this._compare.textContent = this._selected.size ? `Compare (${this._selected.size})` : 'Compare';
    this._summary.textContent = this._total ? `${this._total}${this._exact ? '' : '+'} ${this._total === 1 ? 'run' : 'runs'}` : '';
    this._plots.forEach(p => p.destroy());
    this._plots = [];
    if (!this._total && this._chunks.has(0)) {
      this._spacer.style.height = '0px';
      this._spacer.replaceChildren(
        emptyState('No runs yet.', 'In a notebook: %load_ext aieng_nb, then %aieng start (or aieng.start_run()). Runs appear here live.')
      );
      return;
    }
    this._spacer.style.height = `${this._total * ROW}px`;
    const top = this._viewport.scrollTop;
    const height = this._viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - 5);
    const last = Math.min(this._total, Math.ceil((top + height) / ROW) + 5);
    const rows: HTMLElement[] = [];
    const visible: Run[] = [];
    for (let i = first; i < last; i++) {
      const run = this._run(i);
      if (!run) {
        const chunk = Math.floor(i / CHUNK);
        if (!this._loading.has(chunk)) {
          void this._loadChunk(chunk).then(() => this._draw());
        }
        rows.push(h('div', { class: 'aieng-run aieng-placeholder', style: `top:${i * ROW}px` }, '…'));
        continue;
      }
      visible.push(run);
      rows.push(this._row(run, i));
    }
    this._spacer.replaceChildren(...rows);
    void this._sparklines(visible);
  }

  private _row(run: Run, i: number): HTMLElement {
    const box = h('input', { type: 'checkbox', 'aria-label': `select run ${run.name}` });
    box.checked = this._selected.has(run.run_id);
    box.addEventListener('change', () => {
      if (box.checked) {
        this._selected.add(run.run_id);
      } else {
        this._selected.delete(run.run_id);
      }
      this._compare.disabled = this._selected.size < 2;
      this._compare.textContent = this._selected.size ? `Compare (${this._selected.size})` : 'Compare';
    });
    const key = this._metric.value;
    // times are ISO 8601 strings (the record convention)
    const duration = run.start_time ? ((run.end_time ? Date.parse(run.end_time) : Date.now()) - Date.parse(run.start_time)) / 1000 : null;
    const params = Object.entries(run.params)
      .slice(0, 3)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const metric = key && key in run.metrics ? `${key} ${formatValue(run.metrics[key])}` : '';
    box.addEventListener('click', event => event.stopPropagation()); // selecting is not opening
    const row = h(
      'div',
      {
        class: 'aieng-run',
        role: 'listitem',
        tabindex: 0,
        title: 'Open this run',
        style: `top:${i * ROW}px`,
        'data-run-id': run.run_id,
        'data-name': run.name
      },
      box,
      h(
        'div',
        { class: 'aieng-run-main' },
        h('div', { class: 'aieng-run-title' }, h('b', {}, run.name || run.run_id.slice(0, 8)), ' ', statusBadge(run.status)),
        h(
          'div',
          { class: 'aieng-run-meta', title: run.run_id },
          `${run.experiment} · ${formatTime(run.start_time)}${duration !== null ? ` · ${duration.toFixed(1)}s` : ''}${params ? ` · ${params}` : ''}`
        )
      ),
      h('div', { class: 'aieng-run-metric' }, h('div', { class: 'aieng-metric-value' }, metric), h('div', { class: 'aieng-spark', 'data-spark': run.run_id }))
    );
    const open = (): void => this._ctx.openRun(run.run_id, run.name || run.run_id.slice(0, 8));
    row.addEventListener('click', open);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter' && event.target === row) {
        open();
      }
    });
    return row;
  }

  private async _sparklines(runs: Run[]): Promise<void> {
    const key = this._metric.value;
    if (!key) {
      return;
    }
    const wanted = runs.filter(r => key in r.metrics);
    // a run's history is fetched again only when its last value changed
    const stamp = (r: Run): string => `${r.run_id}|${key}|${r.metrics[key]}|${r.status}`;
    const missing = wanted.filter(r => !this._sparkCache.has(stamp(r)));
    if (missing.length) {
      try {
        const data = await requestAPI<MetricHistories>(
          `metric-histories${query({ run_ids: missing.map(r => r.run_id).join(','), key, max_points: 60 })}`
        );
        data.histories.forEach((hist, i) => this._sparkCache.set(stamp(missing[i]), hist));
      } catch {
        return;
      }
    }
    for (const run of wanted) {
      const node = this._spacer.querySelector<HTMLElement>(`[data-spark="${run.run_id}"]`);
      const hist = this._sparkCache.get(stamp(run));
      if (node && hist && !node.childElementCount) {
        this._plots.push(sparkline(node, hist));
      }
    }
  }
}

/** The metric menu: training (and other own) metrics first, then each report kind's headline
 * metrics in its own group. A report kind is known by its ``<kind>.passed`` metric, which every
 * report stored on a run logs. */
export function metricGroups(keys: string[]): HTMLElement[] {
  const kinds = new Set(
    keys.filter(k => k.endsWith('.passed') && k.split('.').length === 2).map(k => k.split('.')[0])
  );
  const option = (k: string): HTMLElement => h('option', { value: k }, k);
  const own = keys.filter(k => !kinds.has(k.split('.')[0]));
  if (kinds.size === 0) {
    return own.map(option);
  }
  const groups = [h('optgroup', { label: 'Training and run metrics' }, ...own.map(option))];
  for (const kind of Array.from(kinds).sort()) {
    const mine = keys.filter(k => k.split('.')[0] === kind);
    groups.push(h('optgroup', { label: `${kind} report` }, ...mine.map(option)));
  }
  return groups;
}
