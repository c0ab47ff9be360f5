// What a panel section is, and a paged list most sections are built from.
import { h, button } from './dom';

/** What sections can ask of the panel (open tabs, notify). */
export interface IPanelContext {
  openHTML(title: string, endPoint: string): void;
  openCompare(runIds: string[]): void;
  rerunJob(jobId: string, parameters: { [key: string]: unknown }): Promise<void>;
  /** Open the Reports section filtered to one run (a job's reports live on its run). */
  showReports(runId: string): void;
  saveState(): void;
}

export type SectionState = { [key: string]: string };

/** One section of the panel. New sections (a Models section, ...) register in `sections.ts`. */
export interface ISection {
  readonly id: string;
  readonly label: string;
  readonly node: HTMLElement;
  /** Reload what is shown (called when shown and when the workspace changes). */
  refresh(): Promise<void>;
  /** Filters etc. to restore across reloads. */
  state(): SectionState;
  restore(state: SectionState): void;
}

export interface IPage<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
  next_offset: number | null;
}

/** A list with a pager; `load(offset, limit)` fetches one page. */
export class PagedList<T> {
  readonly node = h('div', { class: 'aieng-list' });
  private _offset = 0;
  private _rows = h('div', { class: 'aieng-rows', role: 'list' });
  private _pager = h('div', { class: 'aieng-pager' });

  constructor(
    private _load: (offset: number, limit: number) => Promise<IPage<T>>,
    private _row: (item: T) => HTMLElement,
    private _empty: () => HTMLElement,
    readonly pageSize = 50
  ) {
    this.node.append(this._rows, this._pager);
  }

  reset(): void {
    this._offset = 0;
  }

  async refresh(): Promise<void> {
    let page: IPage<T>;
    try {
      page = await this._load(this._offset, this.pageSize);
    } catch (error) {
      this._rows.replaceChildren(h('div', { class: 'aieng-error' }, String((error as Error).message)));
      return;
    }
    if (page.total > 0 && page.items.length === 0 && this._offset > 0) {
      this._offset = 0; // the list shrank under us
      return this.refresh();
    }
    this.node.setAttribute('data-total', String(page.total));
    this._rows.replaceChildren(...(page.items.length ? page.items.map(item => this._row(item)) : [this._empty()]));
    const end = page.offset + page.items.length;
    const prev = button('‹ Prev', () => {
      this._offset = Math.max(0, this._offset - this.pageSize);
      void this.refresh();
    });
    prev.disabled = page.offset === 0;
    const next = button('Next ›', () => {
      this._offset = page.next_offset ?? this._offset;
      void this.refresh();
    });
    next.disabled = page.next_offset === null;
    this._pager.replaceChildren(
      ...(page.total > this.pageSize ? [prev, h('span', {}, `${page.offset + 1}–${end} of ${page.total}`), next] : [])
    );
  }
}

/** A text input, select, etc. that calls `onChange` (debounced for text). */
export function filterInput(placeholder: string, onChange: () => void): HTMLInputElement {
  const input = h('input', { class: 'aieng-input jp-mod-styled', type: 'search', placeholder, 'aria-label': placeholder });
  let timer: number | undefined;
  input.addEventListener('input', () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(onChange, 250);
  });
  return input;
}

export function filterSelect(label: string, options: string[], onChange: () => void): HTMLSelectElement {
  const select = h(
    'select',
    { class: 'aieng-select jp-mod-styled', 'aria-label': label },
    h('option', { value: '' }, `${label}: all`),
    ...options.map(o => h('option', { value: o }, o))
  );
  select.addEventListener('change', onChange);
  return select;
}
