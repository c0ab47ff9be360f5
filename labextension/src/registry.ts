// The Models section: registered models, their versions with gate results, champion/challenger, rollback.
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { button, emptyState, formatTime, formatValue, h, statusBadge } from './dom';
import { APIError, postAPI, requestAPI } from './handler';
import { AliasMove, GateReport, GateResult, ModelStatus, ModelSummary, VersionInfo } from './models';
import { filterInput, IPanelContext, ListSection, SectionState } from './section';

const ROLES = ['champion', 'challenger', 'previous_champion'];

function aliasBadges(aliases: string[]): HTMLElement[] {
  return aliases.map(a => h('span', { class: `aieng-badge aieng-alias aieng-alias-${ROLES.includes(a) ? a : 'other'}`, 'data-alias': a }, a));
}

function num(value: number | null): string {
  return value === null ? '-' : formatValue(value);
}

function measured(r: GateResult): string {
  const parts: string[] = [];
  if (r.challenger !== null || r.champion !== null) {
    parts.push(`challenger ${num(r.challenger)} vs champion ${num(r.champion)}`);
  }
  if (r.delta !== null) {
    parts.push(`delta ${num(r.delta)}`);
  }
  if (r.threshold !== null) {
    parts.push(`threshold ${num(r.threshold)}`);
  }
  if (r.ci_low !== null) {
    parts.push(`CI [${num(r.ci_low)}, ${num(r.ci_high)}]`);
  }
  return parts.join(' · ');
}

/** One gate report as a list that fits the sidebar: each gate passed/failed, measured vs threshold. */
export function gatesList(report: GateReport): HTMLElement {
  const where = report.snapshot ? ` on ${report.snapshot} (${report.n_rows} rows)` : '';
  return h(
    'div',
    { class: 'aieng-gates', role: 'list', 'aria-label': `gate results of v${report.version}`, 'data-version': report.version, 'data-passed': String(report.passed) },
    h('div', { class: 'aieng-run-meta' }, `v${report.version} vs champion v${report.champion_version ?? '-'}${where} · ${report.gate_file ?? 'default gate'} · ${formatTime(report.created_at)}`),
    ...report.results.map(r =>
      h(
        'div',
        { class: `aieng-gate${r.passed ? '' : ' aieng-gate-failed'}`, role: 'listitem', 'data-gate': r.gate, 'data-passed': String(r.passed) },
        h('div', {}, statusBadge(r.passed ? 'PASSED' : 'FAILED'), ' ', h('b', {}, r.gate)),
        measured(r) ? h('div', { class: 'aieng-run-meta' }, measured(r)) : null,
        r.detail ? h('div', { class: 'aieng-gate-detail' }, r.detail) : null
      )
    )
  );
}

export class ModelsSection extends ListSection<ModelSummary> {
  readonly id = 'models';
  readonly label = 'Models';
  protected readonly endpoint = 'models';
  private _detail = h('div', { class: 'aieng-model-detail', 'aria-live': 'polite' });
  private _selected = '';
  private _gatesOf = ''; // the version whose gate table is open

  constructor(ctx: IPanelContext) {
    super(ctx);
    this.layout({ q: filterInput('Filter models', () => this.changed()) }, { after: [this._detail] });
  }

  protected empty(): HTMLElement {
    return emptyState('No registered models.', 'aieng model register RUN_ID --name churn (or aieng.register_model(run_id, "churn")), then aieng model promote churn --version 1.');
  }

  protected row(m: ModelSummary): HTMLElement {
    const roles = [
      m.champion ? h('span', { class: 'aieng-badge aieng-alias-champion' }, `champion v${m.champion}`) : h('span', { class: 'aieng-badge' }, 'no champion'),
      m.challenger ? h('span', { class: 'aieng-badge aieng-alias-challenger' }, `challenger v${m.challenger}`) : null
    ];
    const selected = m.name === this._selected;
    return h(
      'div',
      { class: `aieng-item aieng-model${selected ? ' aieng-selected' : ''}`, role: 'listitem', 'data-model': m.name, 'data-champion': m.champion ?? '' },
      h('div', { class: 'aieng-item-main' }, h('b', {}, m.name), ' ', ...roles, h('div', { class: 'aieng-run-meta' }, `latest v${m.latest_version ?? '-'}`)),
      button(selected ? 'Hide' : 'Versions', () => this._select(selected ? '' : m.name), { 'aria-label': `versions of ${m.name}`, 'aria-expanded': String(selected) })
    );
  }

  private _select(name: string): void {
    this._selected = name;
    this._gatesOf = '';
    this.ctx.saveState();
    void this.refresh();
  }

  private async _loadDetail(): Promise<void> {
    if (!this._selected) {
      this._detail.replaceChildren();
      return;
    }
    let status: ModelStatus;
    try {
      status = await requestAPI<ModelStatus>(`models/${encodeURIComponent(this._selected)}`);
    } catch (error) {
      if (error instanceof APIError && error.status === 404) {
        // an open model this workspace does not have (state saved in another project, or deleted): close it
        this._selected = '';
        this.ctx.saveState();
        this._detail.replaceChildren();
        return;
      }
      this._detail.replaceChildren(h('div', { class: 'aieng-error' }, String((error as Error).message)));
      return;
    }
    const versions = [...status.versions].reverse(); // newest first
    const rollback = button(
      status.previous_champion ? `Roll back to v${status.previous_champion}` : 'Roll back',
      () => void this._rollback(status),
      { class: 'aieng-button jp-mod-styled aieng-danger aieng-rollback', 'aria-label': `roll back ${status.name}` }
    );
    rollback.disabled = !status.champion || !status.previous_champion;
    rollback.title = rollback.disabled ? 'No previous champion to roll back to' : `Champion v${status.champion} back to v${status.previous_champion} (audited)`;
    const gates = this._gatesOf ? await this._gates(status.name, this._gatesOf) : null;
    this._detail.replaceChildren(
      h(
        'div',
        { class: 'aieng-model-status', 'data-model': status.name, 'data-champion': status.champion ?? '', 'data-challenger': status.challenger ?? '' },
        h('div', { class: 'aieng-toolbar' }, h('b', {}, status.name), rollback),
        h(
          'div',
          { class: 'aieng-run-meta' },
          `champion v${status.champion ?? '-'} · challenger v${status.challenger ?? '-'} · previous champion v${status.previous_champion ?? '-'}`
        ),
        h('div', { class: 'aieng-rows', role: 'list' }, ...versions.flatMap(v => (v.version === this._gatesOf && gates ? [this._version(v), gates] : [this._version(v)])))
      )
    );
  }

  private _version(v: VersionInfo): HTMLElement {
    const metric = v.primary_metric ? `${v.primary_metric}=${num(v.primary_value)}` : '';
    const open = v.version === this._gatesOf;
    const actions = v.gates
      ? [
          button(open ? 'Hide' : 'Gates', () => {
            this._gatesOf = open ? '' : v.version;
            void this._loadDetail();
          }, { 'aria-label': `gate results of v${v.version}`, 'aria-expanded': String(open) })
        ]
      : [];
    return h(
      'div',
      { class: 'aieng-item aieng-version', role: 'listitem', 'data-version': v.version, 'data-aliases': v.aliases.join(','), 'data-gates': v.gates ?? '' },
      h(
        'div',
        { class: 'aieng-item-main' },
        h('b', {}, `v${v.version}`),
        ' ',
        ...aliasBadges(v.aliases),
        ' ',
        v.gates ? statusBadge(v.gates === 'passed' ? 'PASSED' : 'FAILED', ' gates') : h('span', { class: 'aieng-badge' }, 'not gated'),
        h('div', { class: 'aieng-run-meta', title: v.run_id ?? '' }, `run ${(v.run_id ?? '-').slice(0, 8)} · ${formatTime(v.created_at)}${metric ? ` · ${metric}` : ''}`),
        v.gates === 'failed' && v.gates_summary ? h('div', { class: 'aieng-error-line' }, v.gates_summary) : null
      ),
      h('div', { class: 'aieng-actions' }, ...actions)
    );
  }

  private async _gates(name: string, version: string): Promise<HTMLElement> {
    try {
      return gatesList(await requestAPI<GateReport>(`models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/gates`));
    } catch (error) {
      return h('div', { class: 'aieng-error' }, String((error as Error).message));
    }
  }

  private async _rollback(status: ModelStatus): Promise<void> {
    const result = await showDialog({
      title: `Roll back ${status.name}?`,
      body: `The champion moves from v${status.champion} back to v${status.previous_champion} (the previous champion). The move is recorded in the audit trail.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Roll back' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      // `expected`: refused (409) if someone moved the champion since this panel showed it
      await postAPI<AliasMove>(`models/${encodeURIComponent(status.name)}/rollback`, { expected: status.champion });
    } catch (error) {
      await showErrorMessage(`Roll back ${status.name}`, String((error as Error).message));
    }
    await this.refresh();
  }

  async refresh(): Promise<void> {
    await Promise.all([super.refresh(), this._loadDetail()]);
  }

  state(): SectionState {
    return { ...super.state(), model: this._selected };
  }

  restore(state: SectionState): void {
    super.restore(state);
    this._selected = state.model ?? '';
  }
}
