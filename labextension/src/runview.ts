// The run view: a main-area tab for one run (opened by clicking a run in the Runs section), like
// MLflow's run page: params, metrics as charts, tags, artifacts, snapshots, reports, notebook, models.
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import uPlot from 'uplot';
import { metricChart, XAxis } from './charts';
import { button, formatTime, formatValue, h, statusBadge } from './dom';
import { query, requestAPI } from './handler';
import { MetricHistories, Report, RunOverview } from './models';
import { reportStatus } from './sections';

/** What the run view may ask of the application (open other tabs). */
export interface IRunViewContext {
  openHTML(title: string, endPoint: string): void;
  openNotebook(path: string): void;
}

function kv(entries: [string, string][], empty: string): HTMLElement {
  if (!entries.length) {
    return h('p', { class: 'aieng-hint' }, empty);
  }
  return h('div', { class: 'aieng-kv' }, ...entries.flatMap(([k, v]) => [h('span', {}, k), h('span', { 'data-key': k }, v)]));
}

function section(id: string, title: string, ...body: (HTMLElement | null)[]): HTMLElement {
  return h('div', { class: 'aieng-runview-section', 'data-part': id }, h('h3', {}, title), ...body);
}

export class RunView extends Widget {
  private _plots: uPlot[] = [];
  private _x: XAxis = 'step';
  private _smoothing = 0;
  private _charts = h('div', { class: 'aieng-charts' });
  private _overview: RunOverview | null = null;

  constructor(
    readonly runId: string,
    private _ctx: IRunViewContext
  ) {
    super();
    this.addClass('aieng-ui');
    this.addClass('aieng-view');
    this.addClass('aieng-runview');
    this.node.setAttribute('data-run-id', runId);
    this.node.append(h('div', { class: 'aieng-hint' }, 'Loading…'));
    void this.load();
  }

  async load(): Promise<void> {
    try {
      this._overview = await requestAPI<RunOverview>(`runs/${encodeURIComponent(this.runId)}/overview`);
    } catch (error) {
      this.node.replaceChildren(h('div', { class: 'aieng-error' }, String((error as Error).message)));
      return;
    }
    this.render(this._overview);
  }

  private render(ov: RunOverview): void {
    const run = ov.run;
    const duration = run.start_time && run.end_time ? ` · ${((Date.parse(run.end_time) - Date.parse(run.start_time)) / 1000).toFixed(1)}s` : '';
    const mlflow = ov.mlflow_url
      ? h('a', { class: 'aieng-link aieng-mlflow-link', href: ov.mlflow_url, target: '_blank', rel: 'noopener noreferrer' }, 'Open in MLflow UI')
      : null;
    this.node.setAttribute('data-status', run.status);
    this.node.replaceChildren(
      h('h2', {}, run.name || run.run_id.slice(0, 8), ' ', statusBadge(run.status)),
      h('div', { class: 'aieng-run-meta', title: run.run_id }, `${run.run_id} · ${run.experiment} · ${formatTime(run.start_time)}${duration}`),
      ...(mlflow ? [mlflow] : []),
      section('params', 'Parameters', kv(Object.entries(run.params).sort(), 'No parameters.')),
      this._metricsSection(ov),
      section('tags', 'Tags', kv(Object.entries(run.tags).filter(([k]) => !k.startsWith('aieng.report.')).sort(), 'No tags.')),
      section('artifacts', 'Artifacts', this._links(ov.artifacts.map(a => [a, () => this._ctx.openHTML(`${this._name()}: ${a}`, this._artifact(a))]), 'No artifacts.')),
      section(
        'snapshots',
        'Snapshots used',
        this._links(ov.snapshots.map(s => [s.ref, () => this._ctx.openHTML(s.ref, `snapshots/${s.snapshot_id}/profile.html`)]), 'No snapshots taken or loaded in this run.')
      ),
      section('reports', 'Reports', ov.reports.length ? h('div', { class: 'aieng-rows' }, ...ov.reports.map(r => this._report(r))) : h('p', { class: 'aieng-hint' }, 'No reports on this run.')),
      section('notebook', 'Notebook', this._notebook(ov)),
      section(
        'models',
        'Model versions registered from this run',
        ov.model_versions.length
          ? h(
              'div',
              { class: 'aieng-rows' },
              ...ov.model_versions.map(v =>
                h(
                  'div',
                  { class: 'aieng-item', 'data-model': v.name, 'data-version': v.version },
                  h('b', {}, `${v.name} v${v.version}`),
                  ...v.aliases.map(a => h('span', { class: 'aieng-badge' }, a)),
                  v.gates ? statusBadge(v.gates === 'passed' ? 'PASSED' : 'FAILED', ' gates') : null
                )
              )
            )
          : h('p', { class: 'aieng-hint' }, 'No model versions registered from this run.')
      )
    );
    void this._drawCharts();
  }

  private _name(): string {
    return this._overview?.run.name || this.runId.slice(0, 8);
  }

  private _artifact(path: string): string {
    return `runs/${this.runId}/artifact.html${query({ path })}`;
  }

  private _links(items: [string, () => void][], empty: string): HTMLElement {
    if (!items.length) {
      return h('p', { class: 'aieng-hint' }, empty);
    }
    return h(
      'div',
      { class: 'aieng-link-list' },
      ...items.map(([label, open]) => {
        const link = h('button', { class: 'aieng-link', type: 'button', 'data-open': label }, label);
        link.addEventListener('click', open);
        return link;
      })
    );
  }

  private _report(r: Report): HTMLElement {
    const open = button('Open', () => this._ctx.openHTML(r.title || r.name, `runs/${r.run_id}/reports/${encodeURIComponent(r.name)}.html`));
    const evidently =
      r.kind === 'monitor'
        ? button('Evidently', () => this._ctx.openHTML(`${r.title || r.name} (Evidently)`, `runs/${r.run_id}/reports/${encodeURIComponent(r.name)}/evidently.html`))
        : null;
    return h('div', { class: 'aieng-item', 'data-report': r.name }, h('div', { class: 'aieng-item-main' }, h('b', {}, r.title || r.name), ' ', statusBadge(reportStatus(r))), open, evidently);
  }

  private _notebook(ov: RunOverview): HTMLElement {
    const parts: HTMLElement[] = [];
    if (ov.notebook) {
      parts.push(h('div', { class: 'aieng-run-meta', title: ov.notebook }, ov.notebook));
    }
    const notebookPath = ov.notebook_path;
    if (notebookPath) {
      parts.push(button('Open notebook', () => this._ctx.openNotebook(notebookPath), { class: 'aieng-button jp-mod-styled aieng-open-notebook' }));
    }
    for (const a of ov.notebook_artifacts) {
      parts.push(button(`Captured copy: ${a.split('/').pop()}`, () => this._ctx.openHTML(`${this._name()}: ${a}`, this._artifact(a))));
    }
    return parts.length ? h('div', { class: 'aieng-toolbar' }, ...parts) : h('p', { class: 'aieng-hint' }, 'No notebook recorded for this run.');
  }

  private _metricsSection(ov: RunOverview): HTMLElement {
    const keys = Object.keys(ov.run.metrics).sort();
    if (!keys.length) {
      return section('metrics', 'Metrics', h('p', { class: 'aieng-hint' }, 'No metrics logged.'));
    }
    const x = h('select', { class: 'aieng-select jp-mod-styled', 'aria-label': 'x axis' }, h('option', { value: 'step' }, 'x: step'), h('option', { value: 'time' }, 'x: time (s)'));
    x.value = this._x;
    x.addEventListener('change', () => {
      this._x = x.value as XAxis;
      void this._drawCharts();
    });
    const smoothing = h('input', { type: 'range', min: 0, max: 0.99, step: 0.01, value: this._smoothing, 'aria-label': 'smoothing' });
    const shown = h('span', { class: 'aieng-hint' }, this._smoothing.toFixed(2));
    smoothing.addEventListener('input', () => {
      this._smoothing = Number(smoothing.value);
      shown.textContent = this._smoothing.toFixed(2);
      void this._drawCharts();
    });
    const finals = kv(keys.map(k => [k, formatValue(ov.run.metrics[k])]), '');
    return section(
      'metrics',
      'Metrics',
      finals,
      h('div', { class: 'aieng-toolbar' }, x, h('label', { class: 'aieng-hint' }, 'smoothing '), smoothing, shown),
      this._charts
    );
  }

  private async _drawCharts(): Promise<void> {
    const ov = this._overview;
    if (!ov) {
      return;
    }
    const keys = Object.keys(ov.run.metrics).sort().slice(0, 24);
    const histories = await Promise.all(
      keys.map(key =>
        requestAPI<MetricHistories>(`metric-histories${query({ run_ids: ov.run.run_id, key, max_points: 2000 })}`).then(
          d => d.histories[0],
          () => null
        )
      )
    );
    this._plots.forEach(p => p.destroy());
    this._plots = [];
    const width = Math.max(Math.min(this.node.clientWidth - 48, 520), 300);
    const nodes = histories.map((hist, i) => {
      const node = h('div', { class: 'aieng-metric-chart aieng-chart', 'data-metric': keys[i], 'data-x': this._x, 'data-smoothing': String(this._smoothing) });
      if (hist && hist.points.length) {
        this._plots.push(metricChart(node, hist, this._x, this._smoothing, width));
      }
      return node;
    });
    this._charts.replaceChildren(...nodes);
  }

  dispose(): void {
    this._plots.forEach(p => p.destroy());
    super.dispose();
  }
}

export function runTab(runId: string, ctx: IRunViewContext, label: string): MainAreaWidget<RunView> {
  const widget = new MainAreaWidget({ content: new RunView(runId, ctx) });
  widget.id = `aieng-run-${runId}`;
  widget.title.label = `Run ${label}`;
  widget.title.closable = true;
  return widget;
}
