// The other sections (Snapshots, Jobs, Schedules, Reports, Audit) and the section registry (Models: registry.ts).
import { button, emptyState, formatBytes, formatSeconds, formatTime, h, statusBadge } from './dom';
import { postAPI, query, requestAPI } from './handler';
import { AuditEntry, AuditEntryPage, Job, JobPage, Report, ReportPage, Schedule, SchedulePage, SnapshotRow, SnapshotRowPage, Verify } from './models';
import { ModelsSection } from './registry';
import { RunsSection } from './runs';
import { filterInput, filterSelect, IPanelContext, ISection, PagedList, SectionState } from './section';

function basename(path: string): string {
  return path.split('/').pop() ?? path;
}

class SnapshotsSection implements ISection {
  readonly id = 'snapshots';
  readonly label = 'Snapshots';
  readonly node = h('div', { class: 'aieng-section' });
  private _text = filterInput('Filter snapshots', () => this._changed());
  private _list = new PagedList<SnapshotRow>(
    (offset, limit) => requestAPI<SnapshotRowPage>(`snapshots${query({ q: this._text.value, offset, limit })}`),
    row =>
      h(
        'div',
        { class: 'aieng-item', role: 'listitem', 'data-hash': row.snapshot_id },
        h(
          'div',
          { class: 'aieng-item-main' },
          h('b', {}, `${row.name}@${row.version}`),
          row.pii_findings ? h('span', { class: 'aieng-badge aieng-pii', title: `${row.pii_findings} PII findings` }, 'PII') : null,
          h('div', { class: 'aieng-run-meta' }, `${row.shape_text} · ${formatBytes(row.bytes)} · ${row.snapshot_id.slice(0, 12)} · ${formatTime(row.created)}`)
        ),
        button('Profile', () => this._ctx.openHTML(`${row.name}@${row.version}`, `snapshots/${row.snapshot_id}/profile.html`))
      ),
    () => emptyState('No snapshots yet.', 'In a notebook: %aieng snapshot df --name train (or aieng.snapshot(df, name="train")).')
  );

  constructor(private _ctx: IPanelContext) {
    this.node.append(h('div', { class: 'aieng-toolbar' }, this._text), this._list.node);
  }

  private _changed(): void {
    this._ctx.saveState();
    this._list.reset();
    void this.refresh();
  }

  refresh(): Promise<void> {
    return this._list.refresh();
  }

  state(): SectionState {
    return { q: this._text.value };
  }

  restore(state: SectionState): void {
    this._text.value = state.q ?? '';
  }
}

const ACTIVE = ['CREATED', 'QUEUED', 'RUNNING'];

class JobsSection implements ISection {
  readonly id = 'jobs';
  readonly label = 'Jobs';
  readonly node = h('div', { class: 'aieng-section' });
  private _status = filterSelect('Status', ['RUNNING', 'QUEUED', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'STOPPED'], () => this._changed());
  private _text = filterInput('Filter jobs', () => this._changed());
  private _list = new PagedList<Job>(
    (offset, limit) => requestAPI<JobPage>(`jobs${query({ status: this._status.value, q: this._text.value, offset, limit })}`),
    job => this._row(job),
    () => emptyState('No jobs yet.', 'Open a notebook and use "Run notebook as job" (toolbar or command palette), or aieng job run NOTEBOOK.')
  );

  constructor(private _ctx: IPanelContext) {
    this.node.append(h('div', { class: 'aieng-toolbar' }, this._status, this._text), this._list.node);
  }

  private _row(job: Job): HTMLElement {
    const checks = job.checks_failed ? ' (checks failed)' : '';
    const progress = job.status === 'RUNNING' && job.cells_total ? ` · cell ${job.cells_done}/${job.cells_total}` : '';
    const error = job.error ? h('div', { class: 'aieng-error-line' }, String((job.error as { message?: string }).message ?? '')) : null;
    const actions: HTMLElement[] = [];
    if (job.output_path && !ACTIVE.includes(job.status)) {
      actions.push(button('Output', () => this._ctx.openHTML(`Job ${job.job_id}`, `jobs/${job.job_id}/output.html`)));
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
      actions.push(button('Reports', () => this._ctx.showReports(runId)));
    }
    actions.push(button('Re-run', () => void this._ctx.rerunJob(job.job_id, job.parameters)));
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
        error
      ),
      h('div', { class: 'aieng-actions' }, ...actions)
    );
  }

  private _changed(): void {
    this._ctx.saveState();
    this._list.reset();
    void this.refresh();
  }

  refresh(): Promise<void> {
    return this._list.refresh();
  }

  state(): SectionState {
    return { status: this._status.value, q: this._text.value };
  }

  restore(state: SectionState): void {
    this._status.value = state.status ?? '';
    this._text.value = state.q ?? '';
  }
}

class SchedulesSection implements ISection {
  readonly id = 'schedules';
  readonly label = 'Schedules';
  readonly node = h('div', { class: 'aieng-section' });
  private _list = new PagedList<Schedule>(
    (offset, limit) => requestAPI<SchedulePage>(`schedules${query({ offset, limit })}`),
    s =>
      h(
        'div',
        { class: 'aieng-item', role: 'listitem', 'data-schedule': s.name },
        h(
          'div',
          { class: 'aieng-item-main' },
          h('b', {}, s.name),
          ' ',
          s.paused ? statusBadge('PAUSED') : statusBadge('ACTIVE'),
          h('div', { class: 'aieng-run-meta' }, `${s.cron} (${s.timezone}) · ${basename(s.notebook)}`),
          h('div', { class: 'aieng-run-meta' }, `next: ${s.next_run ? formatTime(s.next_run) : '-'} · last: ${s.last_status ?? '-'}`)
        ),
        button(s.paused ? 'Resume' : 'Pause', () => {
          void postAPI<Schedule>(`schedules/${encodeURIComponent(s.name)}/${s.paused ? 'resume' : 'pause'}`).then(() => this.refresh());
        })
      ),
    () => emptyState('No schedules.', 'aieng schedule add NAME NOTEBOOK --cron "0 3 * * *" runs a notebook job on a cron; start the scheduler with aieng scheduler.')
  );

  constructor(_ctx: IPanelContext) {
    this.node.append(this._list.node);
  }

  refresh(): Promise<void> {
    return this._list.refresh();
  }

  state(): SectionState {
    return {};
  }

  restore(): void {
    // nothing to restore: schedules have no filters
  }
}

export class ReportsSection implements ISection {
  readonly id = 'reports';
  readonly label = 'Reports';
  readonly node = h('div', { class: 'aieng-section' });
  private _kind = filterSelect('Kind', ['monitor', 'explain', 'fairness'], () => this._changed());
  private _run = filterInput('Run id (default: recent runs)', () => this._changed());
  private _list = new PagedList<Report>(
    (offset, limit) => requestAPI<ReportPage>(`reports${query({ kind: this._kind.value, run_id: this._run.value.trim(), offset, limit })}`),
    r =>
      h(
        'div',
        { class: 'aieng-item', role: 'listitem', 'data-report': r.name },
        h(
          'div',
          { class: 'aieng-item-main' },
          h('b', {}, r.title || r.name),
          ' ',
          statusBadge(r.passed ? 'PASSED' : 'FAILED'),
          h('div', { class: 'aieng-run-meta' }, `${r.kind} · run ${r.run_id.slice(0, 8)} · ${formatTime(r.created_at)}${r.failed.length ? ` · failed: ${r.failed.join(', ')}` : ''}`)
        ),
        button('Open', () => this._ctx.openHTML(r.title || r.name, `runs/${r.run_id}/reports/${encodeURIComponent(r.name)}.html`))
      ),
    () => emptyState(this._run.value.trim() ? 'No reports on this run.' : 'No reports on the recent runs.', 'aieng.monitor(...), aieng.explain(...) or aieng.fairness(...) then .log() stores one on the run; jobs with a monitor spec attach them.')
  );

  constructor(private _ctx: IPanelContext) {
    this.node.append(h('div', { class: 'aieng-toolbar' }, this._kind, this._run), this._list.node);
  }

  /** Show the reports of one run. */
  forRun(runId: string): void {
    this._run.value = runId;
    this._changed();
  }

  private _changed(): void {
    this._ctx.saveState();
    this._list.reset();
    void this.refresh();
  }

  refresh(): Promise<void> {
    return this._list.refresh();
  }

  state(): SectionState {
    return { kind: this._kind.value, run_id: this._run.value };
  }

  restore(state: SectionState): void {
    this._kind.value = state.kind ?? '';
    this._run.value = state.run_id ?? '';
  }
}

class AuditSection implements ISection {
  readonly id = 'audit';
  readonly label = 'Audit';
  readonly node = h('div', { class: 'aieng-section' });
  private _event = filterInput('Event prefix (job.)', () => this._changed());
  private _text = filterInput('Filter entries', () => this._changed());
  private _result = h('div', { class: 'aieng-verify', role: 'status', 'aria-live': 'polite' });
  private _list = new PagedList<AuditEntry>(
    (offset, limit) => requestAPI<AuditEntryPage>(`audit${query({ event: this._event.value, q: this._text.value, offset, limit })}`),
    e =>
      h(
        'div',
        { class: 'aieng-item aieng-audit-entry', role: 'listitem', 'data-seq': e.seq },
        h(
          'div',
          { class: 'aieng-item-main' },
          h('b', {}, `#${e.seq} ${e.event}`),
          h('div', { class: 'aieng-run-meta' }, `${formatTime(e.ts)} · ${e.actor}`),
          h('code', { class: 'aieng-data' }, JSON.stringify(e.data).slice(0, 200))
        )
      ),
    () => emptyState('No audit entries.', 'Every run, snapshot, job and report appends a hash-chained entry here.')
  );

  constructor(private _ctx: IPanelContext) {
    const verify = button('Verify', () => void this._verify(), { class: 'aieng-button jp-mod-styled aieng-verify-button' });
    this.node.append(h('div', { class: 'aieng-toolbar' }, verify, this._result), h('div', { class: 'aieng-toolbar' }, this._event, this._text), this._list.node);
  }

  private async _verify(): Promise<void> {
    this._result.textContent = 'Verifying…';
    try {
      const v = await postAPI<Verify>('audit/verify');
      this._result.className = `aieng-verify ${v.ok ? 'aieng-ok' : 'aieng-bad'}`;
      this._result.setAttribute('data-ok', String(v.ok));
      this._result.textContent = v.ok ? `OK: ${v.entries} entries, chain intact` : `BAD at entry ${v.bad_seq} (line ${v.bad_line}): ${v.reason}`;
    } catch (error) {
      this._result.textContent = String((error as Error).message);
    }
  }

  private _changed(): void {
    this._ctx.saveState();
    this._list.reset();
    void this.refresh();
  }

  refresh(): Promise<void> {
    return this._list.refresh();
  }

  state(): SectionState {
    return { event: this._event.value, q: this._text.value };
  }

  restore(state: SectionState): void {
    this._event.value = state.event ?? '';
    this._text.value = state.q ?? '';
  }
}

/** The panel's sections, in order. A new section (e.g. Models) is one more factory here. */
export const SECTION_FACTORIES: Array<(ctx: IPanelContext) => ISection> = [
  ctx => new RunsSection(ctx),
  ctx => new SnapshotsSection(ctx),
  ctx => new JobsSection(ctx),
  ctx => new SchedulesSection(ctx),
  ctx => new ReportsSection(ctx),
  ctx => new ModelsSection(ctx),
  ctx => new AuditSection(ctx)
];
