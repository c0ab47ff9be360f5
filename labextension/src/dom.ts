// Small DOM and formatting helpers shared by the sections.

type Child = Node | string | null | undefined | false;

/** `h('div', {class: 'x'}, child, ...)`: an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: { [key: string]: string | number | boolean | undefined } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) {
      continue;
    }
    node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.append(child);
  }
  return node;
}

export function button(label: string, onClick: () => void, attrs: { [key: string]: string | boolean } = {}): HTMLButtonElement {
  const node = h('button', { class: 'aieng-button jp-mod-styled', type: 'button', ...attrs }, label);
  node.addEventListener('click', event => {
    event.stopPropagation();
    onClick();
  });
  return node;
}

export function formatTime(value: number | string | null | undefined): string {
  if (value === null || value === undefined || value === '') {
    return '';
  }
  const date = typeof value === 'number' ? new Date(value > 1e11 ? value : value * 1000) : new Date(value);
  return isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)}s`;
  }
  const m = Math.floor(seconds / 60);
  const s = Math.floor(seconds % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  if (value === null || value === undefined) {
    return '-';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function statusBadge(status: string, extra = ''): HTMLElement {
  return h('span', { class: `aieng-status aieng-status-${status.toLowerCase().replace(/[^a-z_]+/g, '-')}`, title: status }, status + extra);
}

/** The empty state: what to do instead of showing nothing. */
export function emptyState(title: string, hint: string): HTMLElement {
  return h('div', { class: 'aieng-empty' }, h('p', {}, title), h('p', { class: 'aieng-hint' }, hint));
}

export function debounce(fn: () => void, ms: number): () => void {
  let timer: number | undefined;
  return () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(fn, ms);
  };
}

/** A CSS variable of the current theme (charts follow the light and dark themes). */
export function themeColor(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}
