// The other sections (Snapshots, Jobs, Schedules, Reports, Audit) and the section registry (Models: registry.ts).
import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { button, emptyState, formatBytes, formatSeconds, formatTime, h, statusBadge } from './dom';
import { APIError, postAPI, requestAPI } from './handler';
import {
  AuditEntry,
  Job,
  JOB_STATUS_ACTIVE,
  JOB_STATUS_VALUES,
  PipelineRun,
  PipelineStep,
  Report,
  Schedule,
  SnapshotRow,
  STEP_STATE_DONE,
  Verify,
  VerifyOptions
} from './models';
import { ModelsSection } from './registry';
import { reportTableDetails } from './reporttable';
import { RunsSection } from './runs';
import { filterInput, filterSelect, IPanelContext, ISection, ListSection, SectionState } from './section';

function basename(path: string): string {
  return path.split('/').pop() ?? path;
}

/** A report's verdict as its own heading says it: PASSED, FAILED, or NO CHECKS when it ran none. */
export function reportStatus(r: Report): string {
  if (!r.passed) {
    return 'FAILED';
  }
  return r.checks === 0 ? 'NO CHECKS' : 'PASSED';
}

/** Parameters as `name=value` (strings quoted), so two runs of one notebook tell apart. */
export function formatParameters(parameters: { [key: string]: unknown }): string {
  return Object.entries(parameters)
    .map(([k, v]) => `${k}=${JSON.stringify(v) ?? String(v)}`)
    .join(' ');
}

class SnapshotsSection extends ListSection<SnapshotRow> {
  readonly id = 'snapshots';
  readonly label = 'Snapshots';
  protected readonly endpoint = 'snapshots';

  constructor(ctx: IPanelContext) {
    super(ctx);
    this.layout({ q: filterInput('Filter snapshots', () => this.changed()) });
  }

  protected row(row: SnapshotRow): HTMLElement {
    return h(
      'div',
      { class: 'aieng-item', role: 'listitem', 'data-hash': row.snapshot_id },
      h(
        'div',
        { class: 'aieng-item-main' },
        h('b', {}, `${row.name}@${row.version}`),
        row.pii_findings ? h('span', { class: 'aieng-badge aieng-pii', title: `${row.pii_findings} PII findings` }, 'PII') : null,
        h('div', { class: 'aieng-run-meta' }, `${row.shape_text} · ${formatBytes(row.bytes)} · ${row.snapshot_id.slice(0, 12)} · ${formatTime(row.created)}`)
      ),
      button('Profile', () => this.ctx.openHTML(`${row.name}@${row.version}`, `snapshots/${row.snapshot_id}/profile.html`))
    );
  }

  protected empty(): HTMLElement {
    return emptyState('No snapshots yet.', 'In a notebook: %aieng snapshot df --name train (or aieng.snapshot(df, name="train")).');
  }
}

const ACTIVE = JOB_STATUS_ACTIVE;

class JobsSection extends ListSection<Job> {
  readonly id = 'jobs';
  readonly label = 'Jobs';
  protected readonly endpoint = 'jobs';

  constructor(ctx: IPanelContext) {
    super(ctx);
    this.layout({
      status: filterSelect('Status', [...JOB_STATUS_VALUES], () => this.changed()),
      q: filterInput('Filter jobs', () => this.changed())
    });
  }

  protected row(job: Job): HTMLElement {
    const checks = job.checks_failed ? ' (checks failed)' : '';
    const progress = job.status === 'RUNNING' && job.cells_total ? ` · cell ${job.cells_done}/${job.cells_total}` : '';
    const error = job.error ? h('div', { class: 'aieng-error-line' }, String((job.error as { message?: string }).message ?? '')) : null;
    const actions: HTMLElement[] = [];
    if (job.output_path && !ACTIVE.includes(job.status)) {
      actions.push(button('Output', () => this.ctx.openHTML(`Job ${job.job_id}`, `jobs/${job.job_id}/output.html`)));
    }
    if (ACTIVE.includes(job.status)) {
      actions.push(
        button('Stop', () => {
          void postAPI<Job>(`jobs/${job.job_id}/stop`).then(() => this.refresh());
        }, { class: 'aieng-button jp-mod-styled aieng-danger', 'aria-label': `stop job ${job.job_id}` })
      );
    }
    if (job.run_id && !ACTIVE.includes(job.status)) {
      const runId = job.run_id;
      actions.push(button('Reports', () => this.ctx.showReports(runId)));
    }
    actions.push(button('Re-run', () => void this.ctx.rerunJob(job.job_id, job.parameters)));
    return h(
      'div',
      { class: 'aieng-item', role: 'listitem', 'data-job-id': job.job_id, 'data-status': job.status },
      h(
        'div',
        { class: 'aieng-item-main' },
        h('b', {}, basename(job.notebook)),
        ' ',
        statusBadge(job.status, checks),
        h('div', { class: 'aieng-run-meta', title: job.job_id }, `${job.job_id} · ${formatSeconds(job.duration_s)}${progress}`),
        Object.keys(job.parameters).length
          ? h('div', { class: 'aieng-run-meta aieng-params', 'data-parameters': '' }, formatParameters(job.parameters))
          : null,
        error
      ),
      h('div', { class: 'aieng-actions' }, ...actions)
    );
  }

  protected empty(): HTMLElement {
    return emptyState('No jobs yet.', 'Open a notebook and use "Run notebook as job" (toolbar or command palette), or aieng job run NOTEBOOK.');
  }
}

/** Each step's depth in the DAG (0: no upstream), so a pipeline draws as columns left to right. */
export function dagLayers(upstream: { [step: string]: string[] }): string[][] {
  const depth: { [step: string]: number } = {};
  const visit = (step: string, seen: Set<string>): number => {
    if (depth[step] !== undefined) {
      return depth[step];
    }
    if (seen.has(step)) {
      return 0; // a cycle cannot be stored (the file is checked), but never loop on one
    }
    seen.add(step);
    const ups = upstream[step] ?? [];
    depth[step] = ups.length ? Math.max(...ups.map(u => visit(u, seen))) + 1 : 0;
    return depth[step];
  };
  const layers: string[][] = [];
  for (const step of Object.keys(upstream)) {
    const d = visit(step, new Set());
    (layers[d] = layers[d] ?? []).push(step);
  }
  return layers.filter(Boolean);
}

class PipelinesSection extends ListSection<PipelineRun> {
  readonly id = 'pipelines';
  readonly label = 'Pipelines';
  protected readonly endpoint = 'pipelines';

  constructor(ctx: IPanelContext) {
    super(ctx);
    this.layout({ q: filterInput('Filter pipelines', () => this.changed()) });
  }

  private _step(run: PipelineRun, step: PipelineStep): HTMLElement {
    const actions: HTMLElement[] = [];
    const runId = step.run_id ?? step.source_run_id;
    if (runId) {
      actions.push(button('Run', () => this.ctx.openRun(runId, `${run.pipeline}: ${step.step}`), { class: 'aieng-button jp-mod-styled', 'aria-label': `open the run of step ${step.step}` }));
    }
    if (step.job_id && STEP_STATE_DONE.includes(step.state)) {
      const jobId = step.job_id;
      actions.push(button('Output', () => this.ctx.openHTML(`${run.pipeline}: ${step.step}`, `jobs/${jobId}/output.html`), { class: 'aieng-button jp-mod-styled', 'aria-label': `open the output notebook of step ${step.step}` }));
    }
    const why = step.error ?? step.reason;
    return h(
      'div',
      { class: 'aieng-dag-step', 'data-step': step.step, 'data-state': step.state, title: why },
      h('b', {}, step.step),
      ' ',
      statusBadge(step.state),
      why ? h('div', { class: 'aieng-run-meta' }, why) : null,
      Object.keys(step.outputs).length ? h('div', { class: 'aieng-run-meta' }, `→ ${Object.values(step.outputs).join(' ')}`) : null,
      actions.length ? h('div', { class: 'aieng-actions' }, ...actions) : null
    );
  }

  protected row(run: PipelineRun): HTMLElement {
    const counts: { [state: string]: number } = {};
    for (const step of Object.values(run.steps)) {
      counts[step.state.toLowerCase()] = (counts[step.state.toLowerCase()] ?? 0) + 1;
    }
    const dag = h(
      'div',
      { class: 'aieng-dag', role: 'group', 'aria-label': `steps of pipeline ${run.pipeline}` },
      ...dagLayers(run.upstream).map(layer =>
        h('div', { class: 'aieng-dag-layer' }, ...layer.filter(name => run.steps[name]).map(name => this._step(run, run.steps[name])))
      )
    );
    return h(
      'div',
      { class: 'aieng-item aieng-pipeline', role: 'listitem', 'data-run-id': run.run_id, 'data-status': run.status },
      h(
        'div',
        { class: 'aieng-item-main' },
        h('b', {}, run.pipeline),
        ' ',
        statusBadge(run.status),
        h('div', { class: 'aieng-run-meta', title: run.path }, `${run.run_id.slice(0, 12)} · ${formatTime(run.created_at)} · ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ')}`),
        Object.keys(run.parameters).length ? h('div', { class: 'aieng-run-meta aieng-params' }, formatParameters(run.parameters)) : null,
        dag
      ),
      h('div', { class: 'aieng-actions' }, button('Run', () => this.ctx.openRun(run.run_id, `pipeline ${run.pipeline}`), { class: 'aieng-button jp-mod-styled', 'aria-label': `open the parent run of pipeline ${run.pipeline}` }))
    );
  }

  protected empty(): HTMLElement {
    return emptyState('No pipeline runs yet.', 'aieng pipeline run pipeline.yaml (or %aieng pipeline run pipeline.yaml) runs a DAG of notebooks joined by snapshots.');
  }
}

class SchedulesSection extends ListSection<Schedule> {
  readonly id = 'schedules';
  readonly label = 'Schedules';
  protected readonly endpoint = 'schedules';

  constructor(ctx: IPanelContext) {
    super(ctx);
    const note = h(
      'div',
      { class: 'aieng-note', role: 'note' },
      'Schedules fire only while JupyterLab or ',
      h('code', {}, 'aieng scheduler'),
      ' runs; a slot missed while neither ran follows the schedule\'s catch-up policy.'
    );
    this.layout({}, { before: [note] }); // schedules have no filters: nothing to save or restore
  }

  private async _runNow(s: Schedule): Promise<void> {
    try {
      const job = await postAPI<Job>(`schedules/${encodeURIComponent(s.name)}/run`);
      Notification.success(`Schedule ${s.name}: started job ${job.job_id}`, { autoClose: 5000 });
    } catch (error) {
      await showErrorMessage(`Run ${s.name} now`, String((error as Error).message));
    }
    await this.refresh();
  }

  private async _remove(s: Schedule): Promise<void> {
    const answer = await showDialog({
      title: `Remove schedule ${s.name}?`,
      body: `It stops firing ${basename(s.notebook)} on "${s.cron}". Jobs it already ran are kept.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await requestAPI<Schedule>(`schedules/${encodeURIComponent(s.name)}`, { method: 'DELETE' });
    } catch (error) {
      await showErrorMessage(`Remove ${s.name}`, String((error as Error).message));
    }
    await this.refresh();
  }

  protected row(s: Schedule): HTMLElement {
    const params = formatParameters(s.parameters);
    return h(
      'div',
      { class: 'aieng-item', role: 'listitem', 'data-schedule': s.name },
      h(
        'div',
        { class: 'aieng-item-main' },
        h('b', {}, s.name),
        ' ',
        s.paused ? statusBadge('PAUSED') : statusBadge('ACTIVE'),
        h('div', { class: 'aieng-run-meta' }, `${s.cron} (${s.timezone}) · ${basename(s.notebook)}`),
        params ? h('div', { class: 'aieng-run-meta aieng-params' }, params) : null,
        h('div', { class: 'aieng-run-meta' }, `next: ${s.next_run ? formatTime(s.next_run) : '-'} · last: ${s.last_status ?? '-'}`)
      ),
      h(
        'div',
        { class: 'aieng-actions' },
        button(s.paused ? 'Resume' : 'Pause', () => {
          void postAPI<Schedule>(`schedules/${encodeURIComponent(s.name)}/${s.paused ? 'resume' : 'pause'}`).then(() => this.refresh());
        }),
        button('Run now', () => void this._runNow(s), { 'aria-label': `run ${s.name} now` }),
        button('Remove', () => void this._remove(s), { class: 'aieng-button jp-mod-styled aieng-danger', 'aria-label': `remove schedule ${s.name}` })
      )
    );
  }

  protected empty(): HTMLElement {
    return emptyState(
      'No schedules.',
      'aieng schedule add NAME NOTEBOOK --cron "0 3 * * *" runs a notebook job on a cron, while JupyterLab or aieng scheduler runs.'
    );
  }
}

export class ReportsSection extends ListSection<Report> {
  readonly id = 'reports';
  readonly label = 'Reports';
  protected readonly endpoint = 'reports';
  private _run = filterInput('Run id (default: recent runs)', () => this.changed());
  private _restoredRun = false; // the run filter came from a saved state (maybe another project's)

  constructor(ctx: IPanelContext) {
    super(ctx);
    this.layout({ kind: filterSelect('Kind', ['monitor', 'explain', 'fairness'], () => this.changed()), run_id: this._run });
    this._run.addEventListener('input', () => (this._restoredRun = false));
  }

  restore(state: SectionState): void {
    super.restore(state);
    this._restoredRun = Boolean(this._run.value.trim());
  }

  /** A restored run id this workspace does not know (state saved in another project): drop it quietly. */
  async refresh(): Promise<void> {
    if (this._restoredRun) {
      this._restoredRun = false;
      try {
        await requestAPI(`runs/${encodeURIComponent(this._run.value.trim())}`);
      } catch (error) {
        if (error instanceof APIError && (error.status === 404 || error.status === 400)) {
          this._run.value = '';
          this.ctx.saveState();
        }
      }
    }
    return super.refresh();
  }

  /** Show the reports of one run. */
  forRun(runId: string): void {
    this._restoredRun = false;
    this._run.value = runId;
    this.changed();
  }

  protected params(): SectionState {
    return { ...super.params(), run_id: this._run.value.trim() }; // saved as typed, sent trimmed
  }

  protected row(r: Report): HTMLElement {
    return h(
      'div',
      { class: 'aieng-item', role: 'listitem', 'data-report': r.name },
      h(
        'div',
        { class: 'aieng-item-main' },
        h('b', {}, r.title || r.name),
        ' ',
        statusBadge(reportStatus(r)),
        h('div', { class: 'aieng-run-meta' }, `${r.kind} · run ${r.run_id.slice(0, 8)} · ${formatTime(r.created_at)}${r.failed.length ? ` · failed: ${r.failed.join(', ')}` : ''}`)
      ),
      h(
        'div',
        { class: 'aieng-actions' },
        button('Open', () => this.ctx.openHTML(r.title || r.name, `runs/${r.run_id}/reports/${encodeURIComponent(r.name)}.html`)),
        r.kind === 'monitor'
          ? button('Evidently', () => this.ctx.openHTML(`${r.title || r.name} (Evidently)`, `runs/${r.run_id}/reports/${encodeURIComponent(r.name)}/evidently.html`), {
              'aria-label': `open the Evidently page of ${r.title || r.name}`
            })
          : null
      ),
      reportTableDetails(r)
    );
  }

  protected empty(): HTMLElement {
    return emptyState(
      this._run.value.trim() ? 'No reports on this run.' : 'No reports on the recent runs.',
      'aieng.monitor(...), aieng.explain(...) or aieng.fairness(...) then .log() stores one on the run; jobs with a monitor spec attach them.'
    );
  }
}

/** The actor, marked when the entry's key is not one the server's user trusts (aieng_nb.audit.trust). */
function shownActor(e: AuditEntry): string {
  return e.verified === false ? `${e.actor} (unverified key ${e.key.slice(0, 12)}…)` : e.actor;
}

class AuditSection extends ListSection<AuditEntry> {
  readonly id = 'audit';
  readonly label = 'Audit';
  protected readonly endpoint = 'audit';
  private _result = h('div', { class: 'aieng-verify', role: 'status', 'aria-live': 'polite' });
  // what `aieng audit verify --accept-unverified` does: entries signed by keys you do not trust pass, and are counted
  private _accept = h('input', { type: 'checkbox', class: 'aieng-accept-unverified' }) as HTMLInputElement;

  constructor(ctx: IPanelContext) {
    super(ctx);
    const verify = button('Verify', () => void this._verify(), { class: 'aieng-button jp-mod-styled aieng-verify-button' });
    const accept = h(
      'label',
      { class: 'aieng-check', title: 'Pass entries signed by keys you do not trust (they are still counted and named)' },
      this._accept,
      'Accept unverified keys'
    );
    this.layout(
      { event: filterInput('Event prefix (job.)', () => this.changed()), q: filterInput('Filter entries', () => this.changed()) },
      { before: [h('div', { class: 'aieng-toolbar' }, verify, accept, this._result)] }
    );
  }

  private async _verify(): Promise<void> {
    this._result.textContent = 'Verifying…';
    try {
      const options: VerifyOptions = { accept_unverified: this._accept.checked };
      const v = await postAPI<Verify>('audit/verify', options);
      const accepted = v.unverified.reduce((n, u) => n + Number(u.entries ?? 0), 0);
      this._result.className = `aieng-verify ${v.ok ? 'aieng-ok' : 'aieng-bad'}`;
      this._result.setAttribute('data-ok', String(v.ok));
      this._result.textContent = v.ok
        ? `OK: ${v.entries} entries, chain intact` + (accepted ? `; ${accepted} signed by keys you do not trust (accepted)` : '')
        : `BAD at entry ${v.bad_seq} (line ${v.bad_line}): ${v.reason}`;
    } catch (error) {
      this._result.textContent = String((error as Error).message);
    }
  }

  protected row(e: AuditEntry): HTMLElement {
    return h(
      'div',
      { class: 'aieng-item aieng-audit-entry', role: 'listitem', 'data-seq': e.seq },
      h(
        'div',
        { class: 'aieng-item-main' },
        h('b', {}, `#${e.seq} ${e.event}`),
        h('div', { class: 'aieng-run-meta' }, `${formatTime(e.ts)} · ${shownActor(e)}`),
        h('code', { class: 'aieng-data' }, JSON.stringify(e.data).slice(0, 200))
      )
    );
  }

  protected empty(): HTMLElement {
    return emptyState('No audit entries.', 'Every run, snapshot, job and report appends a hash-chained entry here.');
  }
}

/** The panel's sections, in order. A new section (e.g. Models) is one more factory here. */
export const SECTION_FACTORIES: Array<(ctx: IPanelContext) => ISection> = [
  ctx => new RunsSection(ctx),
  ctx => new SnapshotsSection(ctx),
  ctx => new JobsSection(ctx),
  ctx => new PipelinesSection(ctx),
  ctx => new SchedulesSection(ctx),
  ctx => new ReportsSection(ctx),
  ctx => new ModelsSection(ctx),
  ctx => new AuditSection(ctx)
];
