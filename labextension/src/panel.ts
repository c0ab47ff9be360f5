// The sidebar panel: a tab bar of sections; the open section and filters persist across reloads.
import { IStateDB } from '@jupyterlab/statedb';
import { Widget } from '@lumino/widgets';
import { h } from './dom';
import { watcher } from './live';
import { IPanelContext, ISection, SectionState } from './section';
import { ReportsSection, SECTION_FACTORIES } from './sections';

const STATE_KEY = 'aieng-nb:panel';

interface IPanelState {
  section: string;
  filters: { [section: string]: SectionState };
}

export class AiengPanel extends Widget {
  readonly sections: ISection[];
  private _current: ISection;
  private _tabs = h('div', { class: 'aieng-tabs', role: 'tablist', 'aria-label': 'aieng sections' });
  private _body = h('div', { class: 'aieng-body' });
  private _onChange = (): void => void this._current.refresh();

  constructor(
    ctx: Omit<IPanelContext, 'saveState' | 'showReports'>,
    private _state: IStateDB | null
  ) {
    super();
    this.id = 'aieng-panel';
    this.addClass('aieng-ui');
    this.addClass('aieng-panel');
    this.title.caption = 'aieng: runs, snapshots, jobs, schedules, reports, models, audit';
    const full: IPanelContext = {
      ...ctx,
      saveState: () => void this._save(),
      showReports: runId => {
        this.show_('reports');
        const reports = this.sections.find(s => s.id === 'reports');
        if (reports instanceof ReportsSection) {
          reports.forRun(runId);
        }
      }
    };
    this.sections = SECTION_FACTORIES.map(make => make(full));
    this._current = this.sections[0];
    this.node.append(this._tabs, this._body);
    this._renderTabs();
  }

  /** Restore the open section and filters saved by an earlier session. */
  async restore(): Promise<void> {
    const saved = this._state ? ((await this._state.fetch(STATE_KEY)) as IPanelState | undefined) : undefined;
    if (saved) {
      for (const section of this.sections) {
        section.restore(saved.filters?.[section.id] ?? {});
      }
      this.show_(saved.section, false);
    }
  }

  private async _save(): Promise<void> {
    if (!this._state) {
      return;
    }
    const filters: { [id: string]: SectionState } = {};
    this.sections.forEach(s => (filters[s.id] = s.state()));
    const state: IPanelState = { section: this._current.id, filters };
    await this._state.save(STATE_KEY, state as unknown as import('@lumino/coreutils').ReadonlyPartialJSONValue);
  }

  get current(): ISection {
    return this._current;
  }

  /** Open a section by id. */
  show_(id: string, save = true): void {
    const section = this.sections.find(s => s.id === id);
    if (!section) {
      return;
    }
    this._current = section;
    this._renderTabs();
    if (save) {
      void this._save();
    }
    if (this.isVisible) {
      void section.refresh();
    }
  }

  private _renderTabs(): void {
    const tabs = this.sections.map((s, i) => {
      const selected = s === this._current;
      const tab = h(
        'button',
        {
          class: `aieng-tab${selected ? ' aieng-tab-selected' : ''}`,
          role: 'tab',
          type: 'button',
          id: `aieng-tab-${s.id}`,
          'aria-selected': selected ? 'true' : 'false',
          tabindex: selected ? 0 : -1,
          'data-section': s.id
        },
        s.label
      );
      tab.addEventListener('click', () => this.show_(s.id));
      tab.addEventListener('keydown', event => {
        // arrow keys move between tabs, as in any ARIA tablist
        const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
        if (step) {
          const next = this.sections[(i + step + this.sections.length) % this.sections.length];
          this.show_(next.id);
          this._tabs.querySelector<HTMLElement>(`[data-section="${next.id}"]`)?.focus();
        }
      });
      return tab;
    });
    this._tabs.replaceChildren(...tabs);
    this._current.node.setAttribute('role', 'tabpanel');
    this._current.node.setAttribute('aria-labelledby', `aieng-tab-${this._current.id}`);
    this._body.replaceChildren(this._current.node);
    this.node.setAttribute('data-section', this._current.id);
  }

  protected onAfterShow(): void {
    watcher.changed.connect(this._onChange);
    watcher.acquire();
    void this._current.refresh();
  }

  protected onBeforeHide(): void {
    watcher.changed.disconnect(this._onChange);
    watcher.release(); // a hidden panel does not poll at all
  }
}
