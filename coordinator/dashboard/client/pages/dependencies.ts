import { api } from '../api.js';
import { h, timeEl, type Child } from '../dom.js';
import {
  DEPENDENCY_KIND_LABELS,
  DEPENDENCY_STATUS_LABELS,
  labelOf,
  type Credential,
  type Dependency,
  type DependencyStatus,
} from '../model.js';
import { act } from '../page.js';
import { can } from '../session.js';
import { button, table } from '../ui.js';

/*
 * A credential's dependencies on its page (docs/adapters/dependencies.md): each with its last push
 * and its last check (ok / failed with the reason / not run), what is asked of the next
 * verification, and the buttons to check them or push the stored password again to the failed ones
 * (operator and up). A change whose password was set while a dependency did not follow is shown as
 * partial.
 */

function depBadge(status: DependencyStatus): HTMLElement {
  return h('span', { class: `badge dep-${status}` }, DEPENDENCY_STATUS_LABELS[status]);
}

/** A status with its reason and when. */
const result = (status: DependencyStatus, message: string | null, at: string | null): Child =>
  h(
    'div',
    { class: 'dep-result' },
    depBadge(status),
    at ? [' ', timeEl(at)] : null,
    message ? h('div', { class: 'message' }, message) : null,
  );

const REQUESTED: Record<string, string> = {
  push: 'push with the next verification',
  check: 'check with the next verification',
};

/** The dependencies card; `reload` redraws the page after an action. */
export function dependenciesSection(c: Credential, reload: () => Promise<void>): Child {
  const deps = c.dependencies ?? [];
  const notOk = deps.filter((d) => d.status !== 'ok');
  const partial = deps.some((d) => d.ranAt !== null) && notOk.length > 0;
  const id = c.id;
  /** A button asking the next verification to check or push them (POST …/dependencies/<what>). */
  const ask = (label: string, what: 'check' | 'retry', done: string, disabled: boolean, title: string) =>
    button(
      label,
      async () => {
        if (await act(label, () => api.post(`/credentials/${id}/dependencies/${what}`), done)) await reload();
      },
      { disabled: disabled || !c.syncEnabled, title },
    );
  const actions = can('operator')
    ? [
        ask(
          'Check dependencies',
          'check',
          'Check queued with the next verification',
          deps.length === 0,
          'Check every dependency can be reached and written; nothing is changed',
        ),
        ask(
          'Retry failed',
          'retry',
          'Retry queued with the next verification',
          notOk.length === 0,
          'Push the stored password again to the dependencies whose last push was not OK',
        ),
      ]
    : [];
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'dependencies', 'data-testid': 'dependencies' },
    h('h2', { id: 'dependencies' }, 'Dependencies'),
    h(
      'p',
      { class: 'muted' },
      'Where this password also lives: pushed in order after each change, checked before it.',
    ),
    partial
      ? h(
          'div',
          { class: 'callout', 'data-testid': 'dependencies-partial' },
          h(
            'p',
            {},
            h('strong', {}, 'Partial: '),
            `the password was changed, but ${notOk.length} of ${deps.length} dependencies did not follow it. Fix the cause, then retry the failed ones.`,
          ),
        )
      : null,
    table(
      'Dependencies of this credential, in order',
      ['#', 'Name', 'Kind', 'Last push', 'Last check', 'Asked'],
      deps.map((d: Dependency) => [
        String(d.position + 1),
        d.name,
        labelOf(DEPENDENCY_KIND_LABELS, d.kind),
        result(d.status, d.message, d.ranAt),
        result(d.checkStatus, d.checkMessage, d.checkedAt),
        d.requested ? REQUESTED[d.requested] : '',
      ]),
      { empty: 'No dependencies (set them with the API or syncctl).' },
    ),
    actions.length > 0
      ? h('div', { class: 'actions', role: 'group', 'aria-label': 'Dependency actions' }, ...actions)
      : null,
  );
}
