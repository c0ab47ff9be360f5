// A report's per-column / per-feature numbers (drift score per column, importance per feature):
// its by_item.json table, served by GET runs/{run_id}/reports/{name}/table. Reports log only a few
// headline metrics on their run; these numbers are shown here, under the report's row (run view,
// Reports section) and as rows of the compare table.
import { formatValue, h } from './dom';
import { requestAPI } from './handler';
import { ComparisonRow, Report, ReportItem, ReportTable } from './models';

const NOUN: { [kind: string]: string } = { monitor: 'column', explain: 'feature' };
const OPEN = new Set<string>(); // report ids whose table is open: stays open when the list redraws

export function tableEndPoint(r: { run_id: string; name: string }): string {
  return `runs/${encodeURIComponent(r.run_id)}/reports/${encodeURIComponent(r.name)}/table`;
}

/** Items by metric, in the report's order (a drift score may be a p-value or a distance, so the
 * order is the report's own, not by value). */
export function byMetric(items: ReportItem[]): Map<string, ReportItem[]> {
  const groups = new Map<string, ReportItem[]>();
  for (const item of items) {
    groups.set(item.metric, [...(groups.get(item.metric) ?? []), item]);
  }
  return groups;
}

function render(table: ReportTable): HTMLElement[] {
  const noun = NOUN[table.kind] ?? 'item';
  if (!table.items.length) {
    return [h('p', { class: 'aieng-hint' }, `No per-${noun} numbers in this report.`)];
  }
  return Array.from(byMetric(table.items)).map(([metric, rows]) =>
    h(
      'table',
      { class: 'aieng-table aieng-report-items', 'data-metric': metric },
      h('thead', {}, h('tr', {}, h('th', {}, noun), h('th', {}, metric))),
      h('tbody', {}, ...rows.map(r => h('tr', { 'data-item': r.item }, h('td', {}, r.item), h('td', {}, formatValue(r.value)))))
    )
  );
}

/** A collapsed "Per-column numbers (n)" under a report's row, loaded when opened; null when the
 * report has none (a report stored before tables, ``items`` null, may have them in its summary). */
export function reportTableDetails(r: Report): HTMLElement | null {
  if (r.items === 0) {
    return null;
  }
  const noun = NOUN[r.kind] ?? 'item';
  const body = h('div', { class: 'aieng-report-table-body' }, h('span', { class: 'aieng-hint' }, 'Loading…'));
  const details = h(
    'details',
    { class: 'aieng-report-table', 'data-report-table': r.name },
    h('summary', {}, `Per-${noun} numbers${r.items ? ` (${r.items})` : ''}`),
    body
  );
  details.addEventListener('click', event => event.stopPropagation()); // opening is not opening the row
  let loading = false;
  details.addEventListener('toggle', () => {
    if (!details.open) {
      OPEN.delete(r.report_id);
    }
    if (!details.open || loading) {
      return;
    }
    OPEN.add(r.report_id);
    loading = true;
    requestAPI<ReportTable>(tableEndPoint(r)).then(
      table => {
        body.replaceChildren(...render(table));
        details.setAttribute('data-loaded', String(table.items.length));
      },
      error => {
        loading = false; // try again when opened again
        body.replaceChildren(h('span', { class: 'aieng-error' }, String((error as Error).message)));
      }
    );
  });
  details.open = OPEN.has(r.report_id);
  return details;
}

/** Compare rows from the runs' reports: for each kind, the newest report of each run, one row per
 * ``<kind>.<metric>.<item>`` (``-`` where a run has no value), as the per-column metrics were
 * compared when they were run metrics. */
export function compareRows(tables: ReportTable[][]): ComparisonRow[] {
  const perRun = tables.map(runTables => {
    const values = new Map<string, string>();
    for (const t of runTables) {
      for (const i of t.items) {
        values.set(`${t.kind}.${i.metric}.${i.item}`, formatValue(i.value));
      }
    }
    return values;
  });
  const keys = Array.from(new Set(perRun.flatMap(v => Array.from(v.keys())))).sort();
  return keys.map(key => {
    const values = perRun.map(v => v.get(key) ?? '-');
    return { section: 'report', key, values, differs: new Set(values).size > 1 };
  });
}

/** The tables of the newest report of each kind among a run's reports. */
export async function newestTables(reports: Report[]): Promise<ReportTable[]> {
  const newest = new Map<string, Report>();
  for (const r of reports) {
    const seen = newest.get(r.kind);
    if (r.items !== 0 && (!seen || Date.parse(r.created_at) > Date.parse(seen.created_at))) {
      newest.set(r.kind, r);
    }
  }
  const tables = await Promise.all(Array.from(newest.values()).map(r => requestAPI<ReportTable>(tableEndPoint(r)).catch(() => null)));
  return tables.filter((t): t is ReportTable => t !== null);
}
