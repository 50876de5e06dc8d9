import { api, ApiError } from './api.js';
import { confirmDialog, h, toast } from './dom.js';
import { act } from './page.js';

export interface Field {
  name: string;
  label: string;
  type?: 'text' | 'number' | 'checkbox' | 'select' | 'multiselect' | 'password' | 'textarea';
  value?: string | number | boolean | string[];
  options?: { value: string; label: string }[];
  required?: boolean;
  help?: string;
}

export type FormValues = Record<string, string | boolean | string[]>;

function input(f: Field, id: string): HTMLElement {
  if (f.type === 'select' || f.type === 'multiselect') {
    const chosen = new Set(Array.isArray(f.value) ? f.value : [String(f.value ?? '')]);
    return h(
      'select',
      {
        id,
        name: f.name,
        multiple: f.type === 'multiselect',
        size: f.type === 'multiselect' ? 8 : undefined,
      },
      (f.options ?? []).map((o) => h('option', { value: o.value, selected: chosen.has(o.value) }, o.label)),
    );
  }
  if (f.type === 'checkbox')
    return h('input', { id, name: f.name, type: 'checkbox', checked: f.value === true });
  if (f.type === 'textarea')
    return h(
      'textarea',
      { id, name: f.name, rows: 8, spellcheck: 'false', class: 'code', required: f.required },
      f.value === undefined ? '' : String(f.value),
    );
  return h('input', {
    id,
    name: f.name,
    type: f.type ?? 'text',
    value: f.value === undefined ? '' : String(f.value),
    required: f.required,
    autocomplete: f.type === 'password' ? 'off' : undefined,
  });
}

function read(form: HTMLFormElement, fields: Field[]): FormValues {
  const out: FormValues = {};
  for (const f of fields) {
    const el = form.elements.namedItem(f.name);
    if (el instanceof HTMLSelectElement)
      out[f.name] = f.type === 'multiselect' ? [...el.selectedOptions].map((o) => o.value) : el.value;
    else if (el instanceof HTMLInputElement)
      out[f.name] = f.type === 'checkbox' ? el.checked : f.type === 'password' ? el.value : el.value.trim();
    else if (el instanceof HTMLTextAreaElement) out[f.name] = el.value.trim();
  }
  return out;
}

/**
 * A modal form: `submit` gets the values and calls the API; the API's refusal (its message, naming
 * the field) is shown in the dialog, which stays open to be corrected. Resolves true once submitted.
 */
export function formDialog(opts: {
  title: string;
  fields: Field[];
  confirm: string;
  intro?: string;
  /** Shown under the fields (a list of what exists). */
  extra?: HTMLElement;
  submit: (values: FormValues) => Promise<unknown>;
  done?: string;
  /**
   * The form field an API issue is about (its `field`, e.g. `body.connection.host`), to show the
   * message next to it; default: the issue's last part, when a field has that name.
   */
  fieldOf?: (apiField: string) => string | undefined;
}): Promise<boolean> {
  return new Promise((resolve) => {
    const error = h('p', { class: 'error', role: 'alert' });
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const form = h(
      'form',
      { method: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, opts.title),
      opts.intro ? h('p', { class: 'muted' }, opts.intro) : null,
      h(
        'div',
        { class: 'dialog-body form-grid' },
        opts.fields.map((f) => {
          const id = `${titleId}-${f.name}`;
          const control = input(f, id);
          control.setAttribute('aria-describedby', `${id}-error`);
          return h(
            'div',
            { class: 'form-field', 'data-field': f.name },
            h('label', { for: id }, f.label),
            control,
            f.help ? h('p', { class: 'muted small' }, f.help) : null,
            h('p', { class: 'error field-error', id: `${id}-error` }),
          );
        }),
      ),
      opts.extra ?? null,
      error,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', value: 'cancel', class: 'btn', 'data-cancel': '' }, 'Cancel'),
        h('button', { type: 'submit', class: 'btn btn-primary' }, opts.confirm),
      ),
    );
    const dialog = h('dialog', { class: 'dialog' }, form);
    let ok = false;
    form.querySelector('[data-cancel]')!.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      error.textContent = '';
      for (const p of form.querySelectorAll('.field-error')) p.textContent = '';
      void opts.submit(read(form, opts.fields)).then(
        () => {
          ok = true;
          if (opts.done) toast(opts.done);
          dialog.close();
        },
        (err: unknown) => {
          error.textContent = err instanceof ApiError ? err.message : String(err);
          if (err instanceof ApiError) showIssues(form, opts.fields, err, opts.fieldOf);
        },
      );
    });
    dialog.addEventListener('close', () => {
      resolve(ok);
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/** Each API issue next to the field it names (and the field marked invalid); the first one focused. */
function showIssues(
  form: HTMLFormElement,
  fields: Field[],
  err: ApiError,
  fieldOf: ((apiField: string) => string | undefined) | undefined,
): void {
  const names = new Set(fields.map((f) => f.name));
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  let first: HTMLElement | null = null;
  for (const issue of err.issues) {
    const name = fieldOf ? fieldOf(issue.field) : issue.field.split('.').at(-1);
    if (!name || !names.has(name)) continue;
    const box = form.querySelector<HTMLElement>(`[data-field="${CSS.escape(name)}"]`);
    const control = box?.querySelector<HTMLElement>('input, select, textarea');
    const slot = box?.querySelector('.field-error');
    if (!box || !control || !slot) continue;
    slot.textContent = slot.textContent ? `${slot.textContent} ${issue.message}` : issue.message;
    control.setAttribute('aria-invalid', 'true');
    first ??= control;
  }
  first?.focus();
}

/** A dialog showing something once (a new token), with a button to copy it. */
export function showOnce(title: string, intro: string, text: string): Promise<void> {
  return new Promise((resolve) => {
    const code = h('pre', { class: 'once', tabindex: 0 }, text);
    const copy = h('button', { type: 'button', class: 'btn' }, 'Copy');
    copy.addEventListener('click', () => {
      void navigator.clipboard?.writeText(text).then(() => toast('Copied'));
    });
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-label': title },
      h(
        'form',
        { method: 'dialog' },
        h('h2', {}, title),
        h('p', {}, intro),
        code,
        h(
          'div',
          { class: 'dialog-actions' },
          copy,
          h('button', { value: 'ok', class: 'btn btn-primary' }, 'Done'),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve();
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/**
 * Deletes what `path` names after a confirmation. Refused while in use (409: a site or target with
 * credentials), the API's message is shown and a forced delete (`?force=true`) offered. Resolves true
 * once deleted.
 */
export async function deleteWithForce(opts: {
  name: string;
  path: string;
  body: string;
  confirm: string;
  forceConfirm: string;
}): Promise<boolean> {
  const ok = await confirmDialog({
    title: `Delete ${opts.name}?`,
    body: [h('p', {}, opts.body)],
    confirm: opts.confirm,
    danger: true,
  });
  if (!ok) return false;
  try {
    await api.del(opts.path);
    toast(`${opts.name} deleted`);
    return true;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 409) throw err;
    const force = await confirmDialog({
      title: `${opts.name} is in use`,
      body: [h('p', { role: 'alert' }, err.message)],
      confirm: opts.forceConfirm,
      danger: true,
    });
    return (
      force && act(`Delete ${opts.name}`, () => api.del(`${opts.path}?force=true`), `${opts.name} deleted`)
    );
  }
}
