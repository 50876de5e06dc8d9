import { z } from 'zod';

/**
 * The declarative workflow of a `web` target (docs/adapters/web.md): ordered HTTP steps whose
 * bodies come from templates, values extracted from responses, and assertions that decide whether
 * each step succeeded. Only the shape is checked here; web.ts checks what spans workflows (which
 * placeholders each may use, that a variable is extracted before it is used).
 */

/** `{{username}}`, `{{ password }}`, `{{newPassword}}`, `{{vars.csrf}}`. */
export const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const BUILT_INS = ['username', 'password', 'newPassword'] as const;
export type BuiltIn = (typeof BUILT_INS)[number];

export type Placeholder = { kind: 'builtin'; name: BuiltIn } | { kind: 'var'; name: string };

/** The placeholder named `inner` (between the braces), or undefined when it is not one we know. */
export function parsePlaceholder(inner: string): Placeholder | undefined {
  if ((BUILT_INS as readonly string[]).includes(inner)) return { kind: 'builtin', name: inner as BuiltIn };
  if (inner.startsWith('vars.') && VAR_NAME.test(inner.slice(5)))
    return { kind: 'var', name: inner.slice(5) };
  return undefined;
}

/** Every placeholder of a template, in order (unknown ones included as undefined). */
export function placeholdersOf(template: string): { inner: string; placeholder: Placeholder | undefined }[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => {
    const inner = m[1] ?? '';
    return { inner, placeholder: parsePlaceholder(inner) };
  });
}

const Template = z
  .string()
  .max(8192)
  .superRefine((value, ctx) => {
    for (const { placeholder } of placeholdersOf(value)) {
      if (placeholder === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown placeholder: use {{username}}, {{password}}, {{newPassword}} or {{vars.<name>}}`,
        });
      }
    }
  });

/** A JavaScript regular expression source (no slashes, no flags), checked to compile. */
const Regex = z
  .string()
  .min(1)
  .max(2048)
  .superRefine((value, ctx) => {
    try {
      new RegExp(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a valid regular expression' });
    }
  });

const HeaderName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid header name');
const CookieName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid cookie name');

const StatusCode = z.number().int().min(100).max(599);
const StatusMatch = z.union([StatusCode, z.array(StatusCode).min(1).max(20)]);
const HeaderMatch = z.strictObject({ name: HeaderName, matches: Regex });

export const ExtractSchema = z
  .strictObject({
    /** Available to later steps (and to the verify / change workflow after login) as {{vars.<name>}}. */
    name: z.string().regex(VAR_NAME, 'letters, digits, _ and -, starting with a letter or _'),
    from: z.enum(['body', 'header', 'cookie']),
    /** First capture group (or the whole match when the expression has none). */
    regex: Regex.optional(),
    /** An element of the HTML body; its attribute, or its text when no attribute is given. */
    css: z
      .strictObject({
        selector: z.string().min(1).max(500),
        attribute: z.string().min(1).max(200).optional(),
      })
      .optional(),
    /** A dotted path into a JSON body: `data.token`, `items.0.id`. */
    jsonPath: z
      .string()
      .regex(/^[^.\s]+(\.[^.\s]+)*$/, 'a dotted path such as data.token')
      .max(500)
      .optional(),
    /** The response header to read (from: 'header'). */
    header: HeaderName.optional(),
    /** The cookie to read (from: 'cookie'): the value the jar holds after this response. */
    cookie: CookieName.optional(),
    /** False: a value not found leaves the variable empty instead of failing the step. */
    required: z.boolean().default(true),
  })
  .superRefine((e, ctx) => {
    const bodyWays = (['regex', 'css', 'jsonPath'] as const).filter((k) => e[k] !== undefined);
    if (e.from === 'body') {
      if (bodyWays.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message: 'from body: give exactly one of regex, css, jsonPath',
          path: [],
        });
      }
      for (const k of ['header', 'cookie'] as const) {
        if (e[k] !== undefined) ctx.addIssue({ code: 'custom', message: `only with from: ${k}`, path: [k] });
      }
      return;
    }
    const named = e.from; // 'header' | 'cookie'
    if (e[named] === undefined) {
      ctx.addIssue({ code: 'custom', message: `from ${named}: name the ${named}`, path: [named] });
    }
    const other = named === 'header' ? 'cookie' : 'header';
    if (e[other] !== undefined)
      ctx.addIssue({ code: 'custom', message: `only with from: ${other}`, path: [other] });
    for (const k of ['css', 'jsonPath'] as const) {
      if (e[k] !== undefined) ctx.addIssue({ code: 'custom', message: 'only with from: body', path: [k] });
    }
  });
export type Extract = z.output<typeof ExtractSchema>;

/** One assertion; every condition it gives must hold. */
export const ExpectSchema = z
  .strictObject({
    status: StatusMatch.optional(),
    header: HeaderMatch.optional(),
    bodyMatches: Regex.optional(),
    bodyNotMatches: Regex.optional(),
    /** The jar holds a cookie of this name after the response. */
    cookie: CookieName.optional(),
  })
  .refine((e) => Object.values(e).some((v) => v !== undefined), 'give at least one condition');
export type Expectation = z.output<typeof ExpectSchema>;

export const FAIL_REASONS = ['mismatch', 'locked_or_disabled', 'change_failed'] as const;
export type FailReason = (typeof FAIL_REASONS)[number];

/** A known failure page: when all its conditions hold, the step fails with `reason`. */
export const FailWhenSchema = z
  .strictObject({
    status: StatusMatch.optional(),
    header: HeaderMatch.optional(),
    bodyMatches: Regex.optional(),
    reason: z.enum(FAIL_REASONS),
  })
  .refine(
    (f) => f.status !== undefined || f.header !== undefined || f.bodyMatches !== undefined,
    'give at least one of status, header, bodyMatches',
  );
export type FailWhen = z.output<typeof FailWhenSchema>;

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;

export const StepSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    method: z.enum(METHODS).default('GET'),
    /** Absolute (http/https) or relative to the connection's baseUrl; placeholders URL-encoded. */
    url: Template.refine((u) => u.trim().length > 0, 'must not be empty').refine(
      (u) => !/^\s*[a-z][a-z0-9+.-]*:/i.test(u) || /^\s*https?:/i.test(u),
      'must be an http(s) URL or a path relative to baseUrl (no file:, javascript:, …)',
    ),
    headers: z.record(HeaderName, Template).optional(),
    /** An application/x-www-form-urlencoded body; each value a template. */
    form: z.record(z.string().min(1).max(200), Template).optional(),
    /** A JSON body; every string in it is a template (escaped by JSON encoding). */
    json: z.json().optional(),
    followRedirects: z.boolean().default(false),
    extract: z.array(ExtractSchema).max(20).optional(),
    expect: z.array(ExpectSchema).max(20).optional(),
    failWhen: z.array(FailWhenSchema).max(20).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.form !== undefined && s.json !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'give form or json, not both', path: ['json'] });
    }
    if ((s.form !== undefined || s.json !== undefined) && (s.method === 'GET' || s.method === 'HEAD')) {
      ctx.addIssue({ code: 'custom', message: `a ${s.method} step has no body`, path: ['method'] });
    }
    if (s.json !== undefined) {
      for (const [path, value] of jsonStrings(s.json, ['json'])) {
        const bad = placeholdersOf(value).find((p) => p.placeholder === undefined);
        if (bad) {
          ctx.addIssue({
            code: 'custom',
            message: `unknown placeholder: use {{username}}, {{password}}, {{newPassword}} or {{vars.<name>}}`,
            path,
          });
        }
      }
    }
  });
export type Step = z.output<typeof StepSchema>;

export const WorkflowSchema = z
  .strictObject({
    steps: z.array(StepSchema).min(1).max(30),
  })
  .superRefine((w, ctx) => checkStepNames(w.steps, ctx));
export type Workflow = z.output<typeof WorkflowSchema>;

/** Step names are unique in a step list (a web dependency's too): issues at `steps.<i>.name`. */
export function checkStepNames(steps: readonly { name: string }[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  steps.forEach((step, i) => {
    if (seen.has(step.name)) {
      ctx.addIssue({
        code: 'custom',
        message: `duplicate step name '${step.name}'`,
        path: ['steps', i, 'name'],
      });
    }
    seen.add(step.name);
  });
}

/** Every string inside a JSON value, with its path. */
export function jsonStrings(value: unknown, path: (string | number)[] = []): [(string | number)[], string][] {
  if (typeof value === 'string') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => jsonStrings(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => jsonStrings(v, [...path, k]));
  }
  return [];
}

/** Every template of a step, with its path inside the step (url, headers.X, form.f, json.a.b). */
export function templatesOf(step: Step): [(string | number)[], string][] {
  const out: [(string | number)[], string][] = [[['url'], step.url]];
  for (const [k, v] of Object.entries(step.headers ?? {})) out.push([['headers', k], v]);
  for (const [k, v] of Object.entries(step.form ?? {})) out.push([['form', k], v]);
  if (step.json !== undefined) out.push(...jsonStrings(step.json, ['json']));
  return out;
}

/** Does the step send anything built from {{name}}? */
export function stepUses(step: Step, name: BuiltIn): boolean {
  return templatesOf(step).some(([, t]) =>
    placeholdersOf(t).some((p) => p.placeholder?.kind === 'builtin' && p.placeholder.name === name),
  );
}
