import { api, fetchPages, qs } from '../api.js';
import { h, refreshRegion, timeEl, type Child } from '../dom.js';
import { exportButtons } from '../exports.js';
import {
  ACTOR_TYPE_LABELS,
  labelOf,
  OBJECT_TYPE_LABELS,
  type AuditEvent,
  type Page as ApiPage,
} from '../model.js';
import { named } from '../names.js';
import type { Page } from '../page.js';
import { button, table } from '../ui.js';

/** Where an object of the audit log is shown in the dashboard. */
const OBJECT_PAGES: Record<string, (id: string) => string> = {
  credential: (id) => `#/credentials/${id}`,
  sync_run: (id) => `#/runs/${id}`,
  site: (id) => `#/sites?site=${id}`,
};

/**
 * An event's details in words: `key: value` pairs, not raw JSON (the request id left out); an id
 * the API named shows its name (`siteId` as `site: Berlin`), the id on hover.
 */
export function auditDetails(e: AuditEvent): Child[] {
  return Object.entries(e.details)
    .filter(([k]) => k !== 'reqId')
    .flatMap(([k, v], i) => {
      const name = typeof v === 'string' ? e.detailNames[v] : undefined;
      const value: Child =
        name !== undefined && typeof v === 'string'
          ? named(name, v)
          : typeof v === 'string'
            ? v
            : JSON.stringify(v);
      return [i ? ' · ' : '', `${name !== undefined ? k.replace(/Id$/, '') : k}: `, value];
    });
}

const FIELDS: [key: string, label: string, hint: string][] = [
  ['actor', 'Actor', 'token name, agent id or system'],
  ['action', 'Action', 'e.g. credential.verify'],
  ['objectId', 'Object id', 'credential, agent, site or run id'],
  ['objectType', 'Object type', 'credential, agent, site, sync_run…'],
];

export const auditPage: Page = async ({ root, params, setParams }) => {
  const filter = Object.fromEntries(FIELDS.map(([k]) => [k, params.get(k) ?? undefined]));
  const events: AuditEvent[] = [];
  let nextCursor: string | null = null;
  const list = h('div', {});
  const inputs = FIELDS.map(([k, label, hint]) => {
    const input = h('input', {
      id: `a-${k}`,
      name: k,
      value: filter[k] ?? '',
      placeholder: hint,
      autocomplete: 'off',
    });
    return { k, el: h('div', { class: 'field' }, h('label', { for: `a-${k}` }, label), input), input };
  });
  const form = h(
    'form',
    { class: 'filters card', role: 'search', 'aria-label': 'Filter audit events' },
    inputs.map((i) => i.el),
    h(
      'div',
      { class: 'field field-button' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
    ),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setParams(Object.fromEntries(inputs.map((i) => [i.k, i.input.value.trim() || undefined])));
  });
  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Audit log'),
      h('p', { class: 'muted' }, 'Who did what, newest first. Append-only.'),
      exportButtons('audit events', '/audit/export', () => filter),
    ),
    form,
    list,
  );

  const render = () =>
    refreshRegion(
      list,
      table(
        'Audit events',
        ['When', 'Actor', 'Action', 'Object', 'Details'],
        events.map((e) => [
          timeEl(e.at),
          h(
            'span',
            {},
            h('span', { class: 'muted' }, `${labelOf(ACTOR_TYPE_LABELS, e.actorType)} `),
            named(e.actorName ?? e.actorId, e.actorId),
          ),
          // The words, and the code the Action filter takes.
          h(
            'span',
            { 'data-action': e.action },
            e.actionLabel,
            e.actionLabel === e.action
              ? null
              : h('code', { class: 'muted small action-code' }, ` ${e.action}`),
          ),
          h(
            'span',
            {},
            h('span', { class: 'muted' }, `${labelOf(OBJECT_TYPE_LABELS, e.objectType)} `),
            e.objectId ? named(e.objectName, e.objectId, OBJECT_PAGES[e.objectType]?.(e.objectId)) : null,
          ),
          h('span', { class: 'details' }, auditDetails(e)),
        ]),
        { empty: 'No audit event matches.' },
      ),
      nextCursor
        ? h(
            'p',
            {},
            button(
              'Load older events',
              async () => {
                const page = await api.get<ApiPage<AuditEvent>>(
                  `/audit${qs({ ...filter, limit: 100, cursor: nextCursor })}`,
                );
                events.push(...page.items);
                nextCursor = page.nextCursor;
                render();
              },
              { key: 'more' },
            ),
          )
        : null,
    );

  const load = async () => {
    // As many as are shown (more than one page after "load older"), in pages the API accepts.
    const page = await fetchPages<AuditEvent>('/audit', filter, Math.max(100, events.length));
    events.length = 0;
    events.push(...page.items);
    nextCursor = page.nextCursor;
    render();
  };
  await load();
  return { title: 'Audit log', refresh: load };
};
