import { h, num, svg, type Child } from './dom.js';
import {
  DISPLAY_ORDER,
  OUTCOME_LABELS,
  REASON_LABELS,
  STATUS_LABELS,
  type Reason,
  type Status,
} from './model.js';

export function statusBadge(status: Status, reason?: Reason | null): HTMLElement {
  return h(
    'span',
    { class: `badge st-${status}` },
    STATUS_LABELS[status],
    reason ? h('span', { class: 'badge-reason' }, ` · ${REASON_LABELS[reason]}`) : null,
  );
}

export function outcomeBadge(outcome: string | null): HTMLElement {
  const key = outcome ?? 'running';
  return h('span', { class: `badge oc-${key}` }, OUTCOME_LABELS[key] ?? key);
}

export const link = (href: string, ...children: Child[]): HTMLAnchorElement => h('a', { href }, ...children);

/** A site's results of the last 24 hours (its credentials whose latest result came then), in words. */
export function last24hText(l: { checked: number; ok: number; failed: number }): HTMLElement {
  if (l.checked === 0) return h('span', { class: 'muted' }, 'none');
  return h('span', {}, `${num(l.checked)} checked · ${num(l.ok)} ok · ${num(l.failed)} failed`);
}

export function credentialsHref(filter: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
  const s = q.toString();
  return `#/credentials${s ? `?${s}` : ''}`;
}

/**
 * A donut of status counts (SVG drawn here); each arc is a link to the filtered list. The
 * numbers are in the legend next to it, so the chart adds shape, not information only it carries.
 */
export function statusDonut(counts: Record<Status, number>, filter: Record<string, string> = {}): SVGElement {
  const total = DISPLAY_ORDER.reduce((n, s) => n + (counts[s] ?? 0), 0);
  const r = 60;
  const c = 2 * Math.PI * r;
  const root = svg('svg', {
    viewBox: '0 0 160 160',
    class: 'donut',
    role: 'img',
    'aria-label': `Credentials by status: ${DISPLAY_ORDER.map((s) => `${STATUS_LABELS[s]} ${counts[s] ?? 0}`).join(', ')}`,
  });
  root.appendChild(svg('circle', { cx: 80, cy: 80, r, class: 'donut-track' }));
  let offset = 0;
  for (const s of DISPLAY_ORDER) {
    const n = counts[s] ?? 0;
    if (n === 0 || total === 0) continue;
    const len = (n / total) * c;
    const a = svg('a', { href: credentialsHref({ ...filter, status: s }), tabindex: -1 });
    a.appendChild(
      svg(
        'circle',
        {
          cx: 80,
          cy: 80,
          r,
          class: `donut-arc fill-${s}`,
          'stroke-dasharray': `${len} ${c - len}`,
          'stroke-dashoffset': -offset,
          transform: 'rotate(-90 80 80)',
        },
        svg('title', {}, `${STATUS_LABELS[s]}: ${n}`),
      ),
    );
    root.appendChild(a);
    offset += len;
  }
  root.appendChild(svg('text', { x: 80, y: 78, class: 'donut-total', 'text-anchor': 'middle' }, num(total)));
  root.appendChild(
    svg('text', { x: 80, y: 98, class: 'donut-caption', 'text-anchor': 'middle' }, 'credentials'),
  );
  return root;
}

/** A thin horizontal bar split by status (per site rows). */
export function statusBar(counts: Record<Status, number>, label: string): SVGElement {
  const total = DISPLAY_ORDER.reduce((n, s) => n + (counts[s] ?? 0), 0);
  const root = svg('svg', {
    viewBox: '0 0 100 6',
    preserveAspectRatio: 'none',
    class: 'statusbar',
    role: 'img',
    'aria-label': `${label}: ${
      DISPLAY_ORDER.filter((s) => counts[s])
        .map((s) => `${STATUS_LABELS[s]} ${counts[s]}`)
        .join(', ') || 'no credentials'
    }`,
  });
  root.appendChild(svg('rect', { x: 0, y: 0, width: 100, height: 6, class: 'bar-track' }));
  let x = 0;
  for (const s of DISPLAY_ORDER) {
    const n = counts[s] ?? 0;
    if (!n || !total) continue;
    const w = (n / total) * 100;
    root.appendChild(
      svg(
        'rect',
        { x, y: 0, width: w, height: 6, class: `fill-${s}` },
        svg('title', {}, `${STATUS_LABELS[s]}: ${n}`),
      ),
    );
    x += w;
  }
  return root;
}

export interface RunPoint {
  at: string;
  success: number;
  partial: number;
  failure: number;
  running: number;
}

/** Stacked columns of runs per time bucket, by outcome. */
export function runsChart(points: RunPoint[], bucket: 'hour' | 'day'): SVGElement {
  const W = 720;
  const H = 180;
  const pad = { l: 32, r: 8, t: 10, b: 26 };
  const keys = ['success', 'partial', 'failure', 'running'] as const;
  const max = Math.max(1, ...points.map((p) => keys.reduce((n, k) => n + p[k], 0)));
  const step = Math.max(1, Math.ceil(max / 4));
  const top = step * 4;
  const cw = (W - pad.l - pad.r) / Math.max(1, points.length);
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / top);
  const total = points.reduce((n, p) => n + keys.reduce((m, k) => m + p[k], 0), 0);
  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'runs-chart',
    role: 'img',
    'aria-label': `Sync runs per ${bucket}: ${total} in the period; ${keys.map((k) => `${OUTCOME_LABELS[k]} ${points.reduce((n, p) => n + p[k], 0)}`).join(', ')}`,
  });
  for (let v = 0; v <= top; v += step) {
    root.appendChild(svg('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: 'grid' }));
    root.appendChild(
      svg('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(v)),
    );
  }
  points.forEach((p, i) => {
    let acc = 0;
    const x = pad.l + i * cw + cw * 0.15;
    const d = new Date(p.at);
    const label =
      bucket === 'hour'
        ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
        : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
    for (const k of keys) {
      if (!p[k]) continue;
      root.appendChild(
        svg(
          'rect',
          { x, y: y(acc + p[k]), width: cw * 0.7, height: y(acc) - y(acc + p[k]), class: `oc-fill-${k}` },
          svg('title', {}, `${label}: ${p[k]} ${OUTCOME_LABELS[k]}`),
        ),
      );
      acc += p[k];
    }
    const every = Math.ceil(points.length / 12);
    if (i % every === 0) {
      root.appendChild(
        svg('text', { x: x + cw * 0.35, y: H - 8, 'text-anchor': 'middle', class: 'axis' }, label),
      );
    }
  });
  return root;
}

export function legend(items: { label: string; cls: string; value?: Child; href?: string }[]): HTMLElement {
  return h(
    'ul',
    { class: 'legend' },
    items.map((i) =>
      h(
        'li',
        {},
        h('span', { class: `swatch ${i.cls}`, 'aria-hidden': 'true' }),
        i.href ? h('a', { href: i.href }, i.label) : h('span', {}, i.label),
        i.value !== undefined ? h('span', { class: 'legend-value' }, i.value) : null,
      ),
    ),
  );
}

/** A table with a caption (screen readers) and header cells. */
export function table(
  caption: string,
  headers: string[],
  rows: Child[][],
  opts: { empty?: string } = {},
): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((x) => h('th', { scope: 'col' }, x)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.length
          ? rows.map((r) =>
              h(
                'tr',
                {},
                r.map((c) => h('td', {}, c)),
              ),
            )
          : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, opts.empty ?? 'Nothing here.')),
      ),
    ),
  );
}

export function button(
  label: string,
  onclick: (e: Event) => void | Promise<void>,
  opts: {
    kind?: 'primary' | 'danger' | 'plain';
    title?: string;
    disabled?: boolean;
    key?: string;
    ariaLabel?: string;
  } = {},
): HTMLButtonElement {
  const b = h(
    'button',
    {
      type: 'button',
      class: `btn${opts.kind && opts.kind !== 'plain' ? ` btn-${opts.kind}` : ''}`,
      title: opts.title,
      disabled: opts.disabled,
      'data-key': opts.key ?? `btn-${label}`,
      'aria-label': opts.ariaLabel,
    },
    label,
  );
  b.addEventListener('click', (e) => {
    void (async () => {
      b.disabled = true;
      try {
        await onclick(e);
      } finally {
        if (b.isConnected) b.disabled = opts.disabled ?? false;
      }
    })();
  });
  return b;
}
