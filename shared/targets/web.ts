import { z } from 'zod';
import type { TargetKindSpec } from './spec.js';
import {
  PLACEHOLDER,
  placeholdersOf,
  stepUses,
  templatesOf,
  WorkflowSchema,
  type Step,
  type Workflow,
} from './web-workflow.js';

export type { Workflow } from './web-workflow.js';

/**
 * A web application's login (docs/adapters/web.md). `login` signs in with {{password}}; `verify`
 * runs after it in the same session to prove the password works; `change` runs after it to set
 * {{newPassword}}. Only `login` → unsyncable (it just fills in credentials).
 */
export const WebConnectionSchema = z
  .strictObject({
    baseUrl: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).max(2048),
    login: WorkflowSchema,
    verify: WorkflowSchema.optional(),
    change: WorkflowSchema.optional(),
    tls: z
      .strictObject({
        /** False accepts any certificate (test sites only). */
        rejectUnauthorized: z.boolean().default(true),
        /** PEM of the CA(s) to trust instead of the system's. */
        ca: z.string().min(1).max(65_536).optional(),
      })
      .prefault({}),
    /** Per HTTP request (connect, headers and body each). */
    timeoutMs: z.number().int().min(100).max(300_000).default(15_000),
  })
  .superRefine((c, ctx) => {
    // {{newPassword}} only in change; {{vars.x}} only after a step (of login, or earlier in the same workflow) extracts x.
    const loginVars = checkWorkflow(c.login, 'login', new Set(), ctx);
    if (c.verify) checkWorkflow(c.verify, 'verify', loginVars, ctx);
    if (c.change) checkWorkflow(c.change, 'change', loginVars, ctx);
  });
export type WebConnection = z.output<typeof WebConnectionSchema>;

function checkWorkflow(
  workflow: Workflow,
  label: 'login' | 'verify' | 'change',
  inherited: ReadonlySet<string>,
  ctx: z.RefinementCtx,
): Set<string> {
  const { problems, known } = workflowProblems(workflow.steps, label === 'change', inherited);
  for (const p of problems) ctx.addIssue({ code: 'custom', message: p.message, path: [label, ...p.path] });
  return known;
}

/**
 * What is wrong with steps run after others that extracted `inherited` (a web target's verify and
 * change workflows, a web dependency's steps: docs/adapters/dependencies.md): {{newPassword}} where
 * it is not available, {{vars.x}} before a step extracts x. Paths are `steps.<i>.<template>`. Also
 * returns every variable known after the steps.
 */
export function workflowProblems(
  steps: readonly Step[],
  newPasswordAllowed: boolean,
  inherited: ReadonlySet<string>,
): { problems: { path: (string | number)[]; message: string }[]; known: Set<string> } {
  const known = new Set(inherited);
  const problems: { path: (string | number)[]; message: string }[] = [];
  steps.forEach((step, i) => {
    for (const [path, template] of templatesOf(step)) {
      for (const { placeholder } of placeholdersOf(template)) {
        if (placeholder === undefined) continue; // reported by the step's own schema
        const at = ['steps', i, ...path];
        if (placeholder.kind === 'builtin' && placeholder.name === 'newPassword' && !newPasswordAllowed) {
          problems.push({ path: at, message: '{{newPassword}} is only available in the change workflow' });
        }
        if (placeholder.kind === 'var' && !known.has(placeholder.name)) {
          problems.push({
            path: at,
            message: `{{vars.${placeholder.name}}} is not extracted by an earlier step`,
          });
        }
      }
    }
    for (const e of step.extract ?? []) known.add(e.name);
  });
  return { problems, known };
}

/** `host:port` of the base URL: the key of the agent's per-host session limit. */
export function webHost(baseUrl: string): string {
  const url = new URL(baseUrl);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname}:${port}`;
}

/** Values a placeholder could render to in a URL (URL-encoded, so never `/`, `\\`, `:` or `@`). */
const PROBES = ['', 'a', '.'];

/**
 * The origins the connection's workflows send requests to (the target's own redirects aside): the
 * base URL's, and that of every step URL, which may be absolute. `*` when a step's origin depends on
 * a placeholder's value (a placeholder in the host, say), or the URL does not parse.
 */
export function webDestinations(c: WebConnection): string[] {
  const base = new URL(c.baseUrl);
  const out = new Set([base.origin]);
  for (const workflow of [c.login, c.verify, c.change]) {
    for (const step of workflow?.steps ?? []) {
      const origins = new Set(
        PROBES.map((probe) => {
          try {
            return new URL(step.url.replace(PLACEHOLDER, probe), base).origin;
          } catch {
            return '*';
          }
        }),
      );
      for (const origin of origins.size === 1 ? origins : ['*']) out.add(origin);
    }
  }
  return [...out].sort();
}

/** Does the change workflow send the new password anywhere? */
export const changeUsesNewPassword = (c: WebConnection): boolean =>
  c.change !== undefined && c.change.steps.some((s) => stepUses(s, 'newPassword'));

export const webSpec: TargetKindSpec<typeof WebConnectionSchema> = {
  kind: 'web',
  connectionSchema: WebConnectionSchema,
  host: (c) => webHost(c.baseUrl),
  routing: (c) => ({ destinations: webDestinations(c), tls: c.tls }),
  capabilities: (c) => ({
    verify: c.verify !== undefined,
    change: c.change !== undefined,
    changeConfigured: changeUsesNewPassword(c),
  }),
};
