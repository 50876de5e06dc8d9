import { api, ApiError, fetchPages, qs } from '../api.js';
import { parseCsv } from '../csv.js';
import { resolver, type Named } from '../import-names.js';
import { confirmDialog, h, num, replace, toast } from '../dom.js';
import { formDialog } from '../forms.js';
import type { Policy, Site, Target } from '../model.js';
import { can } from '../session.js';
import { button, table } from '../ui.js';

/**
 * Credentials administration on the Credentials page (operator and admin; the buttons are absent
 * for a viewer): create one, import a CSV (POST /credentials/batch, with progress and a result per
 * row), and bulk actions on a selection or on the list's filter (POST /credentials/bulk).
 */

/** Targets offered in the create form at once (a filter by site narrows them). */
const TARGET_CHOICES = 500;
/** The API's limits (shared/contracts/credentials-bulk.ts, credentials-batch.ts). */
const MAX_BULK = 1000;
const IMPORT_BATCH = 500;
/** Rows shown one by one in an import's result; past it, only the rows not created are. */
const ROWS_SHOWN = 1000;

const targetLabel = (t: Target, sites: Map<string, string>) => `${t.name} (${sites.get(t.siteId) ?? 'site'})`;

export function newCredentialButton(siteId: string | undefined): HTMLElement | null {
  if (!can('operator')) return null;
  return button(
    'New credential',
    async () => {
      const [sites, targets, policies] = await Promise.all([
        api.get<{ items: Site[] }>('/sites'),
        api.get<{ items: Target[]; nextCursor: string | null }>(
          `/targets${qs({ siteId, limit: TARGET_CHOICES })}`,
        ),
        api.get<{ items: Policy[] }>('/policies'),
      ]);
      const siteName = new Map(sites.items.map((s) => [s.id, s.name]));
      let created: { id: string } | null = null;
      await formDialog({
        title: 'New credential',
        intro: targets.nextCursor
          ? `The first ${TARGET_CHOICES} targets are listed: filter the list by site to see others.`
          : 'Its password is stored encrypted; a first verification is queued at once.',
        fields: [
          {
            name: 'targetId',
            label: 'Target',
            type: 'select',
            required: true,
            options: targets.items.map((t) => ({ value: t.id, label: targetLabel(t, siteName) })),
          },
          { name: 'username', label: 'Username', required: true },
          { name: 'password', label: 'Password', type: 'password', required: true },
          {
            name: 'policyId',
            label: 'Policy',
            type: 'select',
            options: [
              { value: '', label: 'None (the default rules)' },
              ...policies.items.map((p) => ({ value: p.id, label: p.name })),
            ],
          },
          { name: 'syncEnabled', label: 'Sync enabled', type: 'checkbox', value: true },
        ],
        confirm: 'Create credential',
        done: 'Credential created',
        submit: async (v) => {
          created = await api.post<{ id: string }>('/credentials', {
            targetId: v.targetId,
            username: v.username,
            password: v.password,
            syncEnabled: v.syncEnabled,
            ...(v.policyId ? { policyId: v.policyId } : {}),
          });
        },
      });
      const id = (created as { id: string } | null)?.id;
      if (id) location.hash = `#/credentials/${id}`;
    },
    { kind: 'primary', key: 'new-credential' },
  );
}

interface RowResult {
  line: number;
  username: string;
  target: string;
  result: 'created' | 'exists' | 'invalid' | 'not sent';
  detail: string;
}

/** Reads the CSV's rows into credentials to create, or says why a row cannot be one. */
async function readImport(text: string): Promise<{
  rows: RowResult[];
  work: { row: RowResult; body: Record<string, unknown> }[];
}> {
  const records = parseCsv(text);
  const header = records.shift();
  if (!header) throw new Error('the file is empty: expected a header line target,username,password[,policy]');
  const columns = header.fields.map((f) => f.trim().toLowerCase());
  const known = ['target', 'username', 'password', 'policy'];
  const unknown = columns.filter((c) => !known.includes(c));
  if (unknown.length) throw new Error(`line ${header.line}: unknown column(s) ${unknown.join(', ')}`);
  const missing = known.slice(0, 3).filter((c) => !columns.includes(c));
  if (missing.length) throw new Error(`line ${header.line}: missing column(s) ${missing.join(', ')}`);
  const [targets, policies] = await Promise.all([
    fetchPages<Target>('/targets', {}, 1_000_000),
    api.get<{ items: Named[] }>('/policies'),
  ]);
  const target = resolver('target', targets.items);
  const policy = resolver('policy', policies.items);
  const rows: RowResult[] = [];
  const work: { row: RowResult; body: Record<string, unknown> }[] = [];
  const seen = new Map<string, number>();
  for (const r of records) {
    const get = (name: string) => (columns.includes(name) ? (r.fields[columns.indexOf(name)] ?? '') : '');
    const row: RowResult = {
      line: r.line,
      username: get('username').trim(),
      target: get('target').trim(),
      result: 'not sent',
      detail: '',
    };
    rows.push(row);
    const problems: string[] = [];
    if (r.fields.length !== columns.length)
      problems.push(`${r.fields.length} fields, the header has ${columns.length}`);
    const t = row.target ? target(row.target) : { error: 'target is empty' };
    if (typeof t !== 'string') problems.push(t.error);
    if (!row.username) problems.push('username is empty');
    const password = get('password');
    if (!password) problems.push('password is empty');
    const p = get('policy').trim();
    const pid = p ? policy(p) : undefined;
    if (pid !== undefined && typeof pid !== 'string') problems.push(pid.error);
    const key = typeof t === 'string' ? `${t}\n${row.username}` : '';
    if (key && seen.has(key)) problems.push(`same target and username as line ${seen.get(key)}`);
    else if (key) seen.set(key, r.line);
    if (problems.length) {
      row.detail = problems.join('; ');
      continue;
    }
    work.push({
      row,
      body: {
        targetId: t,
        username: row.username,
        password,
        ...(typeof pid === 'string' ? { policyId: pid } : {}),
      },
    });
  }
  return { rows, work };
}

/** Import a CSV: target,username,password[,policy] (target and policy by id or unique name). */
export function importCsvButton(reload: () => Promise<void>): HTMLElement | null {
  if (!can('operator')) return null;
  return button('Import CSV', () => importDialog(reload), { key: 'import-csv' });
}

function importDialog(reload: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const file = h('input', { id: 'import-file', type: 'file', accept: '.csv,text/csv', required: true });
    const progress = h('progress', { id: 'import-progress', max: 1, value: 0, hidden: true });
    const status = h('p', { role: 'status', 'data-testid': 'import-status' });
    const error = h('p', { class: 'error', role: 'alert' });
    const results = h('div', { 'data-testid': 'import-results' });
    const start = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Import');
    const form = h(
      'form',
      { method: 'dialog', 'aria-labelledby': 'import-title' },
      h('h2', { id: 'import-title' }, 'Import credentials from CSV'),
      h(
        'p',
        { class: 'muted' },
        'A header line, then one credential a line: target,username,password and optionally policy (target and policy by id or unique name). Rows that exist already (same target and username) are left as they are, so importing the same file again creates only what is missing.',
      ),
      h(
        'div',
        { class: 'dialog-body form-grid' },
        h('div', { class: 'form-field' }, h('label', { for: 'import-file' }, 'CSV file'), file),
      ),
      progress,
      status,
      error,
      results,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn', 'data-cancel': '' }, 'Close'),
        start,
      ),
    );
    const dialog = h('dialog', { class: 'dialog dialog-wide' }, form);
    let imported = false;
    form.querySelector('[data-cancel]')!.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const chosen = file.files?.[0];
      if (!chosen) return;
      error.textContent = '';
      replace(results);
      start.disabled = true;
      void (async () => {
        try {
          status.textContent = 'Reading the file…';
          const { rows, work } = await readImport(await chosen.text());
          progress.hidden = false;
          progress.max = Math.max(1, work.length);
          progress.value = 0;
          let sent = 0;
          const show = () => {
            status.textContent = `${num(sent)} of ${num(work.length)} rows sent`;
          };
          show();
          for (let i = 0; i < work.length; i += IMPORT_BATCH) {
            const chunk = work.slice(i, i + IMPORT_BATCH);
            const answer = await api.post<{
              results: (
                | { index: number; result: 'created' | 'exists'; id: string }
                | { index: number; result: 'invalid'; issues: { field: string; message: string }[] }
              )[];
            }>('/credentials/batch', { items: chunk.map((w) => w.body) });
            for (const r of answer.results) {
              const row = chunk[r.index]!.row;
              row.result = r.result;
              row.detail =
                r.result === 'invalid'
                  ? r.issues
                      .map((x) => `${x.field.replace(/^body\.items\.\d+\.?/, '')}: ${x.message}`)
                      .join('; ')
                  : r.result === 'exists'
                    ? 'exists already (left as it is)'
                    : '';
            }
            sent += chunk.length;
            progress.value = sent;
            show();
          }
          imported = true;
          renderImport(results, rows);
          const created = rows.filter((r) => r.result === 'created').length;
          status.textContent = `Done: ${num(created)} created, ${num(rows.length - created)} not (see below).`;
        } catch (err) {
          error.textContent = err instanceof ApiError || err instanceof Error ? err.message : String(err);
        } finally {
          start.disabled = false;
        }
      })();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve();
      if (imported) void reload();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

const RESULT_WORDS: Record<RowResult['result'], string> = {
  created: 'Created',
  exists: 'Exists',
  invalid: 'Refused',
  'not sent': 'Not sent',
};

function renderImport(into: HTMLElement, rows: RowResult[]): void {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.result, (counts.get(r.result) ?? 0) + 1);
  const shown = rows.length <= ROWS_SHOWN ? rows : rows.filter((r) => r.result !== 'created');
  replace(
    into,
    h(
      'p',
      {},
      [...counts].map(([k, n]) => `${RESULT_WORDS[k as RowResult['result']]}: ${num(n)}`).join(' · '),
    ),
    rows.length > ROWS_SHOWN ? h('p', { class: 'muted' }, 'Only the rows not created are listed.') : null,
    table(
      'Import results, a row per line of the file',
      ['Line', 'Target', 'Username', 'Result', 'Why'],
      shown.slice(0, ROWS_SHOWN).map((r) => [r.line, r.target, r.username, RESULT_WORDS[r.result], r.detail]),
      { empty: 'Every row was created.' },
    ),
  );
}

/** A bulk action: its label, the API's action, and what the confirmation says. */
const ACTIONS: { action: string; label: string; says: string; danger?: boolean }[] = [
  { action: 'verify', label: 'Sync now', says: 'verified on their targets now' },
  { action: 'change', label: 'Change now', says: 'given new passwords, generated from their policies' },
  { action: 'enable', label: 'Enable sync', says: 'synced again' },
  { action: 'disable', label: 'Disable sync', says: 'no longer verified nor changed' },
  { action: 'delete', label: 'Delete', says: 'deleted, with their stored passwords', danger: true },
];

interface BulkAnswer {
  counts: { ok: number; failed: number };
  results: ({ id: string; result: 'ok' } | { id: string; result: 'failed'; code: string; message: string })[];
}

/**
 * The bulk bar above the list: what the actions apply to (the rows ticked, or every credential the
 * filter matches) and the actions. Made once per page; `update` refreshes its counts (the list
 * refreshes every few seconds, the operator's choice stays). `selected` is kept by the page.
 */
export function bulkBar(opts: {
  selected: Set<string>;
  filter: Record<string, string | undefined>;
  names: Map<string, string>;
  reload: () => Promise<void>;
}): { el: HTMLElement | null; update: (total: number) => void } {
  if (!can('operator')) return { el: null, update: () => undefined };
  const { selected, filter } = opts;
  const filterFields = Object.fromEntries(
    Object.entries(filter).filter(([k, v]) => v && !['sort', 'limit'].includes(k)),
  );
  const hasFilter = Object.keys(filterFields).length > 0;
  let total = 0;
  const ticked = h('option', { value: 'selected' });
  const matching = h('option', { value: 'filter' });
  const scope = h('select', { id: 'bulk-scope', name: 'scope' }, ticked, matching);
  const update = (t: number) => {
    total = t;
    ticked.textContent = `The ${num(selected.size)} ticked`;
    matching.disabled = !hasFilter || total > MAX_BULK || total === 0;
    matching.textContent = !hasFilter
      ? 'All matching the filter (choose a filter first)'
      : total > MAX_BULK
        ? `All ${num(total)} matching (at most ${num(MAX_BULK)}: narrow the filter)`
        : `All ${num(total)} matching the filter`;
    if (matching.disabled && scope.value === 'filter') scope.value = 'selected';
  };
  const run = async (a: (typeof ACTIONS)[number]) => {
    const byFilter = scope.value === 'filter';
    const count = byFilter ? total : selected.size;
    if (count === 0) {
      toast('Tick credentials first, or choose all matching the filter', 'error');
      return;
    }
    const ok = await confirmDialog({
      title: `${a.label}: ${num(count)} credential${count === 1 ? '' : 's'}?`,
      body: [
        h('p', {}, `They are ${a.says}. Each is answered on its own: a refusal never stops the others.`),
      ],
      confirm: a.label,
      danger: a.danger,
    });
    if (!ok) return;
    const body = byFilter
      ? { action: a.action, filter: filterFields }
      : { action: a.action, ids: [...selected] };
    try {
      const answer = await api.post<BulkAnswer>('/credentials/bulk', body);
      for (const r of answer.results) if (r.result === 'ok') selected.delete(r.id);
      await bulkResult(a.label, answer, opts.names);
    } catch (err) {
      toast(`${a.label} failed: ${err instanceof ApiError ? err.message : String(err)}`, 'error');
    }
    await opts.reload();
  };
  const el = h(
    'div',
    { class: 'bulk-bar card', role: 'group', 'aria-label': 'Bulk actions' },
    h('label', { for: 'bulk-scope' }, 'Apply to'),
    scope,
    ACTIONS.map((a) =>
      button(a.label, () => run(a), { kind: a.danger ? 'danger' : 'plain', key: `bulk-${a.action}` }),
    ),
  );
  update(0);
  return { el, update };
}

/** What a bulk action did: the counts, and each credential refused with why. */
function bulkResult(label: string, answer: BulkAnswer, names: Map<string, string>): Promise<boolean> {
  const failed = answer.results.filter(
    (r): r is { id: string; result: 'failed'; code: string; message: string } => r.result === 'failed',
  );
  return confirmDialog({
    title: `${label}: ${num(answer.counts.ok)} done, ${num(answer.counts.failed)} refused`,
    body: [
      failed.length
        ? table(
            'Credentials refused',
            ['Credential', 'Why'],
            failed.map((r) => [
              h('a', { href: `#/credentials/${r.id}`, title: r.id }, names.get(r.id) ?? r.id),
              r.message,
            ]),
          )
        : h('p', {}, 'Every credential was done.'),
    ],
    confirm: 'OK',
  });
}

/** A row's tick box (bulk actions); absent for a viewer. */
export function tickBox(
  id: string,
  label: string,
  selected: Set<string>,
  onChange: () => void,
): HTMLElement | null {
  if (!can('operator')) return null;
  const box = h('input', {
    type: 'checkbox',
    'aria-label': `Select ${label}`,
    checked: selected.has(id),
    'data-key': `tick-${id}`,
  });
  box.addEventListener('change', () => {
    if (box.checked) selected.add(id);
    else selected.delete(id);
    onChange();
  });
  return box;
}

/** The header's tick box: every row of the page. */
export function tickAll(ids: string[], selected: Set<string>, onChange: () => void): HTMLElement | null {
  if (!can('operator')) return null;
  const box = h('input', {
    type: 'checkbox',
    'aria-label': 'Select every credential on this page',
    checked: ids.length > 0 && ids.every((id) => selected.has(id)),
    'data-key': 'tick-all',
  });
  box.addEventListener('change', () => {
    for (const id of ids) {
      if (box.checked) selected.add(id);
      else selected.delete(id);
    }
    onChange();
  });
  return box;
}
