import { api, ApiError, qs } from '../api.js';
import { h, replace } from '../dom.js';
import { button } from '../ui.js';

/** A web target as the targets page lists it. */
interface WebTarget {
  id: string;
  name: string;
  connection: Record<string, unknown>;
}

interface Trial {
  id: string;
  state: 'queued' | 'running' | 'done' | 'failed';
  outcome: 'ok' | 'failed' | null;
  reasonLabel: string | null;
  detail: string | null;
}

/** How often the dialog asks how a trial stands. */
const POLL_MS = 700;

const STATE_TEXT: Record<Trial['state'], string> = {
  queued: 'Queued: waiting for an agent of the site…',
  running: 'Running: an agent is trying the login…',
  done: '',
  failed: '',
};

/** A trial's state in words: queued → running → the outcome. */
function trialText(t: Trial): string {
  if (t.state === 'done' && t.outcome === 'ok')
    return 'Login works: the workflow signed in with the stored password.';
  if (t.state === 'done')
    return `Login failed: ${t.reasonLabel ?? 'failed'}${t.detail ? ` (${t.detail})` : ''}`;
  if (t.state === 'failed')
    return `Not tried: ${t.reasonLabel ?? 'failed'}${t.detail ? ` (${t.detail})` : ''}`;
  return STATE_TEXT[t.state];
}

/**
 * Try login (docs/dashboard.md): the target's login workflow in a JSON editor, a credential of the
 * target, and a button that tries the edited workflow, unsaved, on an agent of the target's site
 * (POST /targets/{id}/login-trials), then follows it: queued → running → the outcome. The API's
 * validation messages name the workflow's field. Nothing is saved: Edit saves the workflow.
 */
export async function tryLoginDialog(t: WebTarget): Promise<void> {
  const creds = await api.get<{ items: { id: string; username: string; syncEnabled: boolean }[] }>(
    `/credentials${qs({ targetId: t.id, limit: 200 })}`,
  );
  const editor = h('textarea', {
    id: 'trial-workflow',
    rows: 18,
    spellcheck: false,
    class: 'code',
    'aria-describedby': 'trial-issues',
  });
  editor.value = JSON.stringify(t.connection.login ?? { steps: [] }, null, 2);
  const picker = h(
    'select',
    { id: 'trial-credential' },
    creds.items.map((c) =>
      h(
        'option',
        { value: c.id, disabled: !c.syncEnabled },
        c.syncEnabled ? c.username : `${c.username} (sync disabled)`,
      ),
    ),
  );
  const issues = h('ul', { id: 'trial-issues', class: 'field-errors', role: 'alert' });
  const status = h('p', { id: 'trial-status', role: 'status', 'aria-live': 'polite' });
  let polling = 0;

  const showIssues = (list: string[]) =>
    replace(
      issues,
      list.map((i) => h('li', {}, i)),
    );
  const tryIt = async () => {
    showIssues([]);
    let workflow: unknown;
    try {
      workflow = JSON.parse(editor.value);
    } catch {
      showIssues(['workflow: not valid JSON']);
      return;
    }
    let trial: Trial;
    try {
      trial = await api.post<Trial>(`/targets/${t.id}/login-trials`, {
        workflow,
        credentialId: picker.value,
      });
    } catch (err) {
      if (err instanceof ApiError && err.issues.length > 0) {
        showIssues(err.issues.map((i) => `${i.field.replace(/^body\./, '')}: ${i.message}`));
      } else showIssues([err instanceof Error ? err.message : String(err)]);
      return;
    }
    const run = ++polling;
    status.textContent = trialText(trial);
    while ((trial.state === 'queued' || trial.state === 'running') && run === polling && dialog.open) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      trial = await api.get<Trial>(`/targets/${t.id}/login-trials/${trial.id}`);
      status.textContent = trialText(trial);
    }
    status.dataset.outcome = trial.state === 'done' ? (trial.outcome ?? '') : trial.state;
  };

  const titleId = `trial-${t.id}`;
  const dialog: HTMLDialogElement = h(
    'dialog',
    { class: 'dialog dialog-wide', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, `Try login on ${t.name}`),
    h(
      'div',
      { class: 'dialog-body' },
      h(
        'p',
        { class: 'muted' },
        "The login workflow below is tried as it is, unsaved, with the chosen credential's stored password, by an agent of the target's site. The credential's status does not change. Save a workflow that works with Edit.",
      ),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'trial-workflow' }, 'Login workflow (JSON)'),
        editor,
        issues,
      ),
      h('div', { class: 'field' }, h('label', { for: 'trial-credential' }, 'Credential'), picker),
      status,
    ),
    h(
      'div',
      { class: 'dialog-actions' },
      button('Close', (): void => dialog.close(), { key: 'trial-close' }),
      button('Try login', tryIt, {
        kind: 'primary',
        key: 'trial-try',
        disabled: creds.items.length === 0,
        title: creds.items.length === 0 ? 'The target has no credential to try it with' : undefined,
      }),
    ),
  );
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      polling++;
      dialog.remove();
      resolve();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}
