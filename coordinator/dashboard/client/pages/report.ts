/**
 * A site's compliance report (#/sites/<id>/report): every credential, its status, last verified,
 * last changed, policy and who revealed its password in the period, from
 * GET /sites/{id}/compliance-report. Made to be printed (app.css `@media print`), and downloadable
 * as CSV or JSON.
 */
import { api, qs } from '../api.js';
import { fmtTime, h, num, refreshRegion } from '../dom.js';
import { exportButtons } from '../exports.js';
import { STATUS_LABELS, STATUSES, type Status } from '../model.js';
import { named } from '../names.js';
import type { Page } from '../page.js';
import { button, statusBadge, table } from '../ui.js';

interface Reveal {
  at: string;
  actorId: string;
  actorName: string | null;
  action: string;
}

interface ReportItem {
  credentialId: string;
  username: string;
  targetId: string;
  targetName: string;
  targetKind: string;
  status: Status;
  statusLabel: string;
  syncEnabled: boolean;
  lastVerifiedAt: string | null;
  lastChangedAt: string | null;
  policyId: string | null;
  policyName: string | null;
  reveals: Reveal[];
}

interface Report {
  site: { id: string; name: string };
  since: string;
  until: string;
  generatedAt: string;
  items: ReportItem[];
}

/** A date input's value (`YYYY-MM-DD`) as the start of that day in UTC, or of the next day for `until`. */
const dayIso = (value: string, next = false): string | undefined => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const d = new Date(`${value}T00:00:00Z`);
  if (next) d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
};

export const reportPage: Page = async ({ root, path, params, setParams }) => {
  const siteId = path[1]!;
  const sinceDay = params.get('since') ?? '';
  const untilDay = params.get('until') ?? '';
  const period = () => ({ since: dayIso(sinceDay), until: dayIso(untilDay, true) });
  const report = await api.get<Report>(`/sites/${siteId}/compliance-report${qs(period())}`);

  const since = h('input', { id: 'r-since', type: 'date', value: report.since.slice(0, 10) });
  const until = h('input', { id: 'r-until', type: 'date', value: untilDay || report.until.slice(0, 10) });
  const form = h(
    'form',
    { class: 'filters card no-print', 'aria-label': 'Report period' },
    h('div', { class: 'field' }, h('label', { for: 'r-since' }, 'From'), since),
    h('div', { class: 'field' }, h('label', { for: 'r-until' }, 'To (inclusive)'), until),
    h(
      'div',
      { class: 'field field-button' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setParams({ since: since.value || undefined, until: until.value || undefined });
  });

  const counts = new Map<Status, number>();
  for (const i of report.items) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
  const revealed = report.items.filter((i) => i.reveals.length > 0).length;
  const list = h('div', {});
  refreshRegion(
    list,
    table(
      `Compliance report of ${report.site.name}`,
      ['Credential', 'Target', 'Status', 'Last verified', 'Last changed', 'Policy', 'Revealed by'],
      report.items.map((i) => [
        named(i.username, i.credentialId, `#/credentials/${i.credentialId}`),
        i.targetName,
        h(
          'span',
          {},
          statusBadge(i.status),
          i.syncEnabled ? null : h('span', { class: 'muted' }, ' (sync off)'),
        ),
        fmtTime(i.lastVerifiedAt),
        fmtTime(i.lastChangedAt),
        i.policyName ?? h('span', { class: 'muted' }, 'none'),
        i.reveals.length
          ? h(
              'ul',
              { class: 'reveals' },
              i.reveals.map((r) =>
                h('li', {}, named(r.actorName ?? r.actorId, r.actorId), ` ${fmtTime(r.at)}`),
              ),
            )
          : h('span', { class: 'muted' }, 'nobody'),
      ]),
      { empty: 'This site has no credentials.' },
    ),
  );

  root.append(
    h(
      'p',
      { class: 'crumbs no-print' },
      h('a', { href: `#/sites?site=${siteId}` }, 'Sites & agents'),
      ' / Compliance report',
    ),
    h(
      'div',
      { class: 'page-head report-head' },
      h('h1', {}, `Compliance report: ${report.site.name}`),
      h(
        'div',
        { class: 'actions no-print' },
        button('Print', () => window.print(), { kind: 'primary', key: 'print-report' }),
        exportButtons('report', `/sites/${siteId}/compliance-report`, period),
      ),
    ),
    h(
      'p',
      { class: 'report-period' },
      `Period ${fmtTime(report.since)} to ${fmtTime(report.until)}; made ${fmtTime(report.generatedAt)}. `,
      `${num(report.items.length)} credentials, ${num(revealed)} revealed in the period.`,
    ),
    h(
      'ul',
      { class: 'inline-counts report-counts' },
      STATUSES.filter((s) => counts.get(s)).map((s) =>
        h('li', {}, `${STATUS_LABELS[s]}: ${num(counts.get(s)!)}`),
      ),
    ),
    form,
    list,
  );
  return { title: `Compliance report: ${report.site.name}` };
};
