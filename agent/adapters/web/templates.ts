import { PLACEHOLDER, parsePlaceholder } from '../../../shared/targets/web-workflow.js';

/** What placeholders stand for during one run. */
export interface TemplateValues {
  username: string;
  password: string;
  /** Only while the change workflow runs. */
  newPassword?: string;
  /** Values extracted by earlier steps; a missing optional one renders empty. */
  vars: ReadonlyMap<string, string>;
}

/** A template that cannot be rendered (the schema normally prevents it): a bug in the config, not the site. */
export class TemplateError extends Error {
  override name = 'TemplateError';
}

/**
 * Replaces each placeholder with its value passed through `encode` (the escaping of the context it
 * lands in: encodeURIComponent in a URL, nothing in a header or a form field that is encoded as a
 * whole afterwards). The template's own text is kept as written.
 */
export function render(
  template: string,
  values: TemplateValues,
  encode: (value: string) => string = (v) => v,
): string {
  return template.replace(PLACEHOLDER, (_whole, inner: string) => {
    const p = parsePlaceholder(inner);
    if (p === undefined) throw new TemplateError(`unknown placeholder {{${inner.slice(0, 60)}}}`);
    if (p.kind === 'var') return encode(values.vars.get(p.name) ?? '');
    const value = values[p.name];
    if (value === undefined) throw new TemplateError(`{{${p.name}}} has no value in this workflow`);
    return encode(value);
  });
}

/** A JSON body: every string rendered, the whole encoded by JSON.stringify (so `"` and `\` are escaped). */
export function renderJson(value: unknown, values: TemplateValues): unknown {
  if (typeof value === 'string') return render(value, values);
  if (Array.isArray(value)) return value.map((v) => renderJson(v, values));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderJson(v, values)]));
  }
  return value;
}

/** An application/x-www-form-urlencoded body: names and rendered values encoded by URLSearchParams. */
export function renderForm(form: Record<string, string>, values: TemplateValues): string {
  const params = new URLSearchParams();
  for (const [name, template] of Object.entries(form)) params.append(name, render(template, values));
  return params.toString();
}
