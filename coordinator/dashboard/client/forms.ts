import { ApiError } from './api.js';
import { h, toast } from './dom.js';

export interface Field {
  name: string;
  label: string;
  type?: 'text' | 'number' | 'password' | 'checkbox' | 'select' | 'multiselect';
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
  return h('input', {
    id,
    name: f.name,
    type: f.type ?? 'text',
    value: f.value === undefined ? '' : String(f.value),
    required: f.required,
  });
}

function read(form: HTMLFormElement, fields: Field[]): FormValues {
  const out: FormValues = {};
  for (const f of fields) {
    const el = form.elements.namedItem(f.name);
    if (el instanceof HTMLSelectElement)
      out[f.name] = f.type === 'multiselect' ? [...el.selectedOptions].map((o) => o.value) : el.value;
    else if (el instanceof HTMLInputElement)
      out[f.name] = f.type === 'checkbox' ? el.checked : el.value.trim();
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
          return h(
            'div',
            { class: 'form-field' },
            h('label', { for: id }, f.label),
            input(f, id),
            f.help ? h('p', { class: 'muted small' }, f.help) : null,
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
      void opts.submit(read(form, opts.fields)).then(
        () => {
          ok = true;
          if (opts.done) toast(opts.done);
          dialog.close();
        },
        (err: unknown) => {
          error.textContent = err instanceof ApiError ? err.message : String(err);
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
