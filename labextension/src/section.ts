// What a panel section is, a paged list, and the filtered-list section most sections are built from.
import { h, button } from './dom';
import { query, requestAPI } from './handler';

/** What sections can ask of the panel (open tabs, notify). */
export interface IPanelContext {
  openHTML(title: string, endPoint: string): void;
  openCompare(runIds: string[]): void;
  /** Open the run view of one run. */
  openRun(runId: string, label: string): void;
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

/** Filter elements by their saved-state key (which is also their query parameter), in toolbar order. */
export type Filters = { [stateKey: string]: HTMLInputElement | HTMLSelectElement };

/**
 * A section that is one paged list under a toolbar of filters (Snapshots, Jobs, Reports, ...).
 *
 * A subclass gives its `id`, `label`, `endpoint`, row renderer and empty state, creates its filters
 * with `() => this.changed()` and calls `layout(filters)`; saving/restoring the filters, the request
 * (`endpoint?key=value&...&offset&limit`) and going back to page one on a change come from here.
 *
 *     class Snapshots extends ListSection<SnapshotRow> {
 *       readonly id = 'snapshots';
 *       readonly label = 'Snapshots';
 *       protected readonly endpoint = 'snapshots';
 *       constructor(ctx: IPanelContext) {
 *         super(ctx);
 *         this.layout({ q: filterInput('Filter snapshots', () => this.changed()) });
 *       }
 *       protected row(s: SnapshotRow): HTMLElement { ... }
 *       protected empty(): HTMLElement { ... }
 *     }
 */
export abstract class ListSection<T> implements ISection {
  abstract readonly id: string;
  abstract readonly label: string;
  /** The REST endpoint the pages come from (`/aieng/api/<endpoint>`). */
  protected abstract readonly endpoint: string;
  readonly node = h('div', { class: 'aieng-section' });
  protected readonly list = new PagedList<T>(
    (offset, limit) => requestAPI<IPage<T>>(`${this.endpoint}${query({ ...this.params(), offset, limit })}`),
    item => this.row(item),
    () => this.empty()
  );
  private _filters: Filters = {};

  constructor(protected readonly ctx: IPanelContext) {}

  protected abstract row(item: T): HTMLElement;
  protected abstract empty(): HTMLElement;

  /** Build the section: `before` (e.g. an action bar), the filters' toolbar (if any), the list, `after`. */
  protected layout(filters: Filters, parts: { before?: HTMLElement[]; after?: HTMLElement[] } = {}): void {
    this._filters = filters;
    const controls = Object.values(filters);
    this.node.append(
      ...(parts.before ?? []),
      ...(controls.length ? [h('div', { class: 'aieng-toolbar' }, ...controls)] : []),
      this.list.node,
      ...(parts.after ?? [])
    );
  }

  /** The query parameters of the filters (their values as typed; override to clean one up). */
  protected params(): SectionState {
    return this._values();
  }

  /** A filter changed: remember it, back to the first page, reload. */
  protected changed(): void {
    this.ctx.saveState();
    this.list.reset();
    void this.refresh();
  }

  refresh(): Promise<void> {
    return this.list.refresh();
  }

  state(): SectionState {
    return this._values();
  }

  restore(state: SectionState): void {
    for (const [key, element] of Object.entries(this._filters)) {
      element.value = state[key] ?? '';
    }
  }

  private _values(): SectionState {
    const values: SectionState = {};
    for (const [key, element] of Object.entries(this._filters)) {
      values[key] = element.value;
    }
    return values;
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
