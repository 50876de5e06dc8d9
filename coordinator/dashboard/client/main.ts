import { api, ApiError, clearToken, getToken, setToken, whenUnauthenticated } from './api.js';
import { h, replace } from './dom.js';
import type { Page, PageResult } from './page.js';
import { alertsPage } from './pages/alerts.js';
import { auditPage } from './pages/audit.js';
import { credentialPage } from './pages/credential.js';
import { credentialsPage } from './pages/credentials.js';
import { overviewPage } from './pages/overview.js';
import { runPage, runsPage } from './pages/runs.js';
import { policiesPage } from './pages/policies.js';
import { reportPage } from './pages/report.js';
import { sitesPage } from './pages/sites.js';
import { syncGroupsPage } from './pages/sync-groups.js';
import { loadRole } from './session.js';

const REFRESH_MS = 3000;

const NAV: { href: string; label: string; match: string }[] = [
  { href: '#/', label: 'Overview', match: '' },
  { href: '#/credentials', label: 'Credentials', match: 'credentials' },
  { href: '#/sites', label: 'Sites & agents', match: 'sites' },
  { href: '#/groups', label: 'Sync groups', match: 'groups' },
  { href: '#/runs', label: 'Sync runs', match: 'runs' },
  { href: '#/audit', label: 'Audit log', match: 'audit' },
  { href: '#/policies', label: 'Policies & tokens', match: 'policies' },
  { href: '#/alerts', label: 'Alerts', match: 'alerts' },
];

function route(path: string[]): Page {
  const [first, second] = path;
  if (first === 'credentials') return second ? credentialPage : credentialsPage;
  if (first === 'sites') return path[2] === 'report' ? reportPage : sitesPage;
  if (first === 'groups') return syncGroupsPage;
  if (first === 'policies') return policiesPage;
  if (first === 'runs') return second ? runPage : runsPage;
  if (first === 'audit') return auditPage;
  if (first === 'alerts') return alertsPage;
  return overviewPage;
}

const current: { result: PageResult | null; seq: number } = { result: null, seq: 0 };
let refreshing = false;

function parseHash(): { path: string[]; params: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [p = '', q = ''] = raw.split('?');
  return { path: p.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(q) };
}

async function render(): Promise<void> {
  const main = document.getElementById('main')!;
  if (!getToken()) return showLogin();
  showShell();
  const { path, params } = parseHash();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav.primary a')) {
    const active = a.dataset.match === (path[0] ?? '');
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const seq = ++current.seq;
  current.result = null;
  const root = h('div', { class: 'page' });
  replace(main, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  try {
    await loadRole();
    const result = await route(path)({
      root,
      path,
      params,
      setParams(next) {
        const q = new URLSearchParams(params);
        for (const [k, v] of Object.entries(next)) {
          if (v === undefined || v === '') q.delete(k);
          else q.set(k, v);
        }
        const s = q.toString();
        location.hash = `#/${path.map(encodeURIComponent).join('/')}${s ? `?${s}` : ''}`;
      },
    });
    if (seq !== current.seq) return;
    current.result = result;
    document.title = `${result.title} · Password sync`;
    replace(main, root);
  } catch (err) {
    if (seq !== current.seq) return;
    replace(
      main,
      h(
        'div',
        { class: 'page' },
        h('h1', {}, 'Something went wrong'),
        h('p', { role: 'alert', class: 'error' }, err instanceof ApiError ? err.message : String(err)),
      ),
    );
  }
}

/** Live refresh: the current page re-reads its data every few seconds while the tab is visible. */
function startRefresh(): void {
  setInterval(() => {
    const fn = current.result?.refresh;
    if (!fn || refreshing || document.hidden || !getToken()) return;
    const seq = current.seq;
    refreshing = true;
    fn()
      .catch(() => undefined)
      .finally(() => {
        refreshing = false;
        if (seq === current.seq)
          document.getElementById('updated')!.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      });
  }, REFRESH_MS);
}

function showShell(): void {
  const header = document.getElementById('header')!;
  if (header.dataset.shell === 'on') return;
  header.dataset.shell = 'on';
  replace(
    header,
    h(
      'a',
      { class: 'brand', href: '#/' },
      h('img', { src: '/ui/logo.svg', alt: '', width: 24, height: 24 }),
      'Password sync',
    ),
    h(
      'nav',
      { class: 'primary', 'aria-label': 'Main' },
      h(
        'ul',
        {},
        NAV.map((n) => h('li', {}, h('a', { href: n.href, 'data-match': n.match }, n.label))),
      ),
    ),
    h(
      'div',
      { class: 'header-end' },
      h('span', { id: 'updated', class: 'muted', 'aria-live': 'off' }),
      h(
        'button',
        { type: 'button', class: 'btn btn-small', id: 'logout', onclick: () => logout() },
        'Sign out',
      ),
    ),
  );
}

function logout(message?: string): void {
  clearToken();
  const header = document.getElementById('header')!;
  header.dataset.shell = 'off';
  replace(header);
  showLogin(message);
}

function showLogin(message?: string): void {
  const main = document.getElementById('main')!;
  document.title = 'Sign in · Password sync';
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error' }, message ?? '');
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    minlength: 8,
    'aria-describedby': 'token-help login-error',
  });
  const form = h(
    'form',
    { class: 'login card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'muted' },
      'An operator token (COORDINATOR_ADMIN_TOKEN or one from POST /api/v1/tokens). It is kept for this tab only.',
    ),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in'),
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    void api.check(token).then(
      () => {
        setToken(token);
        void render();
      },
      (err: unknown) => {
        error.textContent =
          err instanceof ApiError && err.status === 401
            ? 'That token was not accepted.'
            : `Sign-in failed: ${String(err instanceof Error ? err.message : err)}`;
        input.focus();
      },
    );
  });
  replace(main, h('div', { class: 'page page-login' }, form));
  input.focus();
}

// The skip link must not change the hash (the router owns it).
document.querySelector('.skip')?.addEventListener('click', (e) => {
  e.preventDefault();
  document.getElementById('main')?.focus();
});
whenUnauthenticated(() => logout('Your session ended: sign in again.'));
window.addEventListener('hashchange', () => void render());
startRefresh();
void render();
