/**
 * Dependencies of a credential (docs/adapters/dependencies.md): the places its password also lives,
 * updated by an agent of the site after each change, in order. Shared by the coordinator (API,
 * claim, report), the agent (running them) and the CLI.
 */
import { z } from 'zod';
import { checkStepNames, StepSchema, stepUses } from '../targets/web-workflow.js';

export const DEPENDENCY_KINDS = ['file', 'command', 'service', 'web', 'credential'] as const;
export type DependencyKind = (typeof DEPENDENCY_KINDS)[number];

/** The kinds an agent runs (a `credential` dependency is the coordinator's). */
export const AGENT_DEPENDENCY_KINDS: ReadonlySet<DependencyKind> = new Set([
  'file',
  'command',
  'service',
  'web',
]);

const name = z.string().trim().min(1).max(100);
/** A credential of the same site whose account logs in to reach the dependency (its target says where). */
const loginCredentialId = z.uuid({ message: 'must be a UUID' });

/** A regular expression with exactly one capture group: the password's place in the file. */
const Pattern = z
  .string()
  .min(1)
  .max(1000)
  .superRefine((source, ctx) => {
    let groups: number;
    try {
      groups = new RegExp(`${source}|`).exec('')!.length - 1;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(err as Error).message}` });
      return;
    }
    if (groups !== 1) ctx.addIssue({ code: 'custom', message: 'must have exactly one capture group' });
  });

/** `a.b.c`: keys of nested objects (JSON, YAML) or one key (key=value). */
const KeyPath = z
  .string()
  .min(1)
  .max(500)
  .regex(/^[^.\s=]+(\.[^.\s=]+)*$/, { message: 'keys separated by dots, no spaces or =' });

export const FileDependencySchema = z
  .strictObject({
    kind: z.literal('file'),
    name,
    loginCredentialId,
    /** Absolute path of the file on the login credential's (workstation) target. */
    path: z
      .string()
      .min(2)
      .max(1024)
      .regex(/^\/[^\n\r]*[^/]$/, { message: 'an absolute path to a file' }),
    /**
     * `pattern`: the first capture group of `pattern` is replaced; `keyvalue`: the value of `key`
     * (`key=value` or `key: value` lines); `json`, `yaml`: the value at the dotted `key`.
     */
    format: z.enum(['pattern', 'keyvalue', 'json', 'yaml']),
    pattern: Pattern.optional(),
    key: KeyPath.optional(),
    /** Keep the previous content as `<path>.bak` (same owner and mode) before replacing it. */
    backup: z.boolean().default(false),
  })
  .superRefine((d, ctx) => {
    if (d.format === 'pattern' && d.pattern === undefined) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: "required with format 'pattern'" });
    }
    if (d.format !== 'pattern' && d.key === undefined) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: `required with format '${d.format}'` });
    }
  });

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export const CommandDependencySchema = z
  .strictObject({
    kind: z.literal('command'),
    name,
    loginCredentialId,
    /** The program and its arguments, each passed as one word (never through a shell's parsing). */
    argv: z.array(z.string().min(1).max(4096)).min(1).max(64),
    /** How the command gets the new password: a line on its standard input, or the variable `env`. */
    passwordVia: z.enum(['stdin', 'env']).default('stdin'),
    env: z.string().regex(ENV_NAME, { message: 'a variable name (letters, digits, _)' }).optional(),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  })
  .superRefine((d, ctx) => {
    if (d.passwordVia === 'env' && d.env === undefined) {
      ctx.addIssue({ code: 'custom', path: ['env'], message: "required with passwordVia 'env'" });
    }
  });

export const ServiceDependencySchema = z.strictObject({
  kind: z.literal('service'),
  name,
  /** A credential on a `service` target: its driver, server and database are the statement's. */
  loginCredentialId,
  /**
   * One statement, the new password its only bound parameter (`$1` on PostgreSQL, `?` on MySQL and
   * MariaDB), e.g. `UPDATE app_settings SET value = $1 WHERE name = 'db_password'`.
   */
  statement: z.string().trim().min(1).max(4000),
});

export const WebDependencySchema = z
  .strictObject({
    kind: z.literal('web'),
    name,
    /**
     * A credential on a `web` target: its base URL, TLS and timeouts are the steps', and its login
     * workflow signs in first ({{username}} and {{password}} are its account's, in every step).
     */
    loginCredentialId,
    /**
     * Run after that login in the same session (cookies and extracted variables carry over), as a
     * web target's change workflow: {{newPassword}} is the password to push.
     */
    steps: z.array(StepSchema).min(1).max(30),
  })
  .superRefine((d, ctx) => {
    checkStepNames(d.steps, ctx);
    if (!d.steps.some((s) => stepUses(s, 'newPassword'))) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: 'no step sends {{newPassword}}' });
    }
  });

export const CredentialDependencySchema = z.strictObject({
  kind: z.literal('credential'),
  name,
  /** Another credential (same site, not in a sync group) that gets the same password. */
  credentialId: z.uuid({ message: 'must be a UUID' }),
});

export const DependencyDefinitionSchema = z.discriminatedUnion('kind', [
  FileDependencySchema,
  CommandDependencySchema,
  ServiceDependencySchema,
  WebDependencySchema,
  CredentialDependencySchema,
]);
export type DependencyDefinition = z.infer<typeof DependencyDefinitionSchema>;
export type FileDependency = z.infer<typeof FileDependencySchema>;
export type CommandDependency = z.infer<typeof CommandDependencySchema>;
export type ServiceDependency = z.infer<typeof ServiceDependencySchema>;
export type WebDependency = z.infer<typeof WebDependencySchema>;

export const MAX_DEPENDENCIES = 20;

/**
 * The body of POST /credentials/{id}/dependencies. Each definition is judged by its kind's schema
 * (DependencyDefinitionSchema) by the route, which names its fields `dependencies.<n>.<field>`, as
 * a target's connection is judged by its kind's.
 */
export const SetDependenciesBody = z.strictObject({
  dependencies: z.array(z.record(z.string(), z.unknown())).max(MAX_DEPENDENCIES),
});

export const DEPENDENCY_STATUSES = ['ok', 'failed', 'not_run'] as const;
export const DependencyStatusSchema = z.enum(DEPENDENCY_STATUSES);
export type DependencyStatus = z.infer<typeof DependencyStatusSchema>;

/** What is asked of a dependency: `push` the password to it, or `check` it can be reached and written. */
export const DependencyModeSchema = z.enum(['push', 'check']);
export type DependencyMode = z.infer<typeof DependencyModeSchema>;

export const DependencyView = z.object({
  id: z.uuid(),
  position: z.number().int(),
  name: z.string(),
  kind: z.enum(DEPENDENCY_KINDS),
  definition: z.record(z.string(), z.unknown()),
  /** The last push of the password: `not_run` until one ran (or when an earlier one failed first). */
  status: DependencyStatusSchema,
  message: z.string().nullable(),
  ranAt: z.string().nullable(),
  /** The last check (before a change, or asked for): reachable and writable. */
  checkStatus: DependencyStatusSchema,
  checkMessage: z.string().nullable(),
  checkedAt: z.string().nullable(),
  /** Work asked and not done yet (it goes out with the credential's next verification). */
  requested: DependencyModeSchema.nullable(),
});
export type DependencyView = z.infer<typeof DependencyView>;

export const RetryDependenciesBody = z.strictObject({
  /** The dependencies to push again (default: every one whose last push did not end `ok`). */
  dependencyIds: z
    .array(z.uuid({ message: 'must be a UUID' }))
    .min(1)
    .max(MAX_DEPENDENCIES)
    .optional(),
});

export const SetStoredPasswordBody = z.strictObject({
  /** The password that is on the target now (set there out of band). */
  password: z.string().min(1).max(1024),
  /** Push it to every dependency after the verification (default false). */
  pushDependencies: z.boolean().default(false),
});

/**
 * A dependency as an agent gets it in a claim: its definition, and for the kinds that log in the
 * login account with the target it is on. `problem`: why it cannot be run (the login credential is
 * gone, of another site or on the wrong kind of target): the agent reports it failed.
 */
export const ClaimedDependencySchema = z.object({
  id: z.uuid(),
  mode: DependencyModeSchema,
  definition: DependencyDefinitionSchema,
  login: z
    .object({
      username: z.string(),
      password: z.string(),
      target: z.object({ kind: z.string(), connection: z.record(z.string(), z.unknown()) }),
    })
    .optional(),
  problem: z.string().optional(),
});
export type ClaimedDependency = z.input<typeof ClaimedDependencySchema>;

/** One dependency's result in an agent's report. */
export const DependencyResultSchema = z.strictObject({
  /** The dependency's id as handed out (the coordinator takes only its credential's own). */
  id: z.string().min(1).max(64),
  mode: DependencyModeSchema,
  status: DependencyStatusSchema,
  message: z.string().max(500).optional(),
});
export type DependencyResult = z.infer<typeof DependencyResultSchema>;
