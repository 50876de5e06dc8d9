/** Small DOM helpers. Text always goes in as text (never HTML), so API data cannot inject markup. */

type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;
export type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(
  tag: string,
  attrs: Record<string, string | number> = {},
  ...children: Child[]
): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  append(el, children);
  return el as SVGElement;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (s < 0) return `in ${duration(-s)}`;
  if (s < 5) return 'just now';
  return `${duration(s)} ago`;
}

export function duration(totalSeconds: number): string {
  const s = Math.round(totalSeconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** A <time> element: absolute on hover, relative as text. */
export function timeEl(iso: string | null | undefined): HTMLElement {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: fmtTime(iso) }, ago(iso));
}

export const num = (n: number): string => n.toLocaleString();

/** Shows a message in the page's live region (announced by screen readers). */
export function toast(message: string, kind: 'ok' | 'error' = 'ok'): void {
  const region = document.getElementById('toast');
  if (!region) return;
  const item = h(
    'div',
    { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    message,
  );
  region.appendChild(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/**
 * Tells screen readers something once (what a filter or a page change now shows). Regions that
 * refresh every few seconds are not live themselves: they would be read out again at every refresh.
 */
export function announce(message: string): void {
  const region = document.getElementById('announcer');
  if (!region) return;
  // Cleared first, so the same words said twice are announced twice.
  region.textContent = '';
  setTimeout(() => (region.textContent = message), 50);
}

/** A modal confirmation (native <dialog>: focus trapped, Esc cancels). Resolves true on confirm. */
export function confirmDialog(opts: {
  title: string;
  body: Child[];
  confirm: string;
  danger?: boolean;
}): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': titleId },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: titleId }, opts.title),
        h('div', { class: 'dialog-body' }, ...opts.body),
        h(
          'div',
          { class: 'dialog-actions' },
          h('button', { value: 'cancel', class: 'btn', autofocus: true }, 'Cancel'),
          h(
            'button',
            { value: 'ok', class: opts.danger ? 'btn btn-danger' : 'btn btn-primary' },
            opts.confirm,
          ),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/**
 * Replaces a region's content with fresh content (live refresh) and gives keyboard focus back to
 * the element with the same data-key, so a refresh never steals the operator's place.
 */
export function refreshRegion(region: Element, ...children: Child[]): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && region.contains(active) ? active.dataset.key : undefined;
  replace(region, ...children);
  if (key) region.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`)?.focus();
}
