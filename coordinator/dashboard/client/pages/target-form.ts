import { api, ApiError, fetchPages, MAX_PAGE } from '../api.js';
import { formDialog, type Field, type FormValues } from '../forms.js';
import { kindLabel, type Credential, type Site } from '../model.js';
import { TARGET_FORMS } from '../vocabulary.js';

/**
 * The target form of a kind (TARGET_FORMS, generated from the kinds' connection schemas in
 * shared/targets): an input per field, JSON for objects and lists (TLS, a web workflow). The API
 * judges the whole connection; its messages are shown next to the field they name.
 */

type Variant = (typeof TARGET_FORMS)[string][number];
type FormField = Variant['fields'][number];

export interface TargetLike {
  id: string;
  siteId: string;
  name: string;
  kind: string;
  connection: Record<string, unknown>;
}

/** A kind and variant as one select value: `service:driver=mysql`. */
const variantKey = (kind: string, v: Variant) => (v.by ? `${kind}:${v.by.field}=${v.by.value}` : kind);
const variantLabel = (kind: string, v: Variant) => `${kindLabel(kind)}${v.by ? ` (${v.by.value})` : ''}`;

function variantOf(key: string): { kind: string; variant: Variant } {
  const kind = key.split(':')[0]!;
  const variant = (TARGET_FORMS[kind] ?? []).find((v) => variantKey(kind, v) === key);
  if (!variant) throw new Error(`unknown kind ${key}`);
  return { kind, variant };
}

/** The variant a stored connection is of (its `driver` or `flavour`). */
function storedVariant(t: TargetLike): Variant | undefined {
  const variants = TARGET_FORMS[t.kind] ?? [];
  return variants.find((v) => !v.by || t.connection[v.by.field] === v.by.value);
}

const WEB_LOGIN_EXAMPLE = {
  steps: [
    {
      name: 'login',
      method: 'POST',
      url: '/login',
      form: { username: '{{username}}', password: '{{password}}' },
      expect: [{ status: 302 }],
    },
  ],
};

/** The field naming the account a privileged change uses: a credential of the target's site. */
const PRIVILEGED_FIELD = 'privilegedCredentialId';

/** A site's credentials as choices for PRIVILEGED_FIELD; null when it has more than a list can show. */
type Accounts = { value: string; label: string }[] | null;

/**
 * The site's credentials on targets of the same kind (the API also wants the same host), by
 * username, for the privileged account's select; null (the field stays a text box for the
 * account's id) when the site has more than MAX_PAGE credentials or they cannot be read.
 */
async function siteAccounts(siteId: string, kind: string, variant: Variant): Promise<Accounts> {
  if (!variant.fields.some((f) => f.name === PRIVILEGED_FIELD)) return null;
  try {
    const page = await fetchPages<Credential>('/credentials', { siteId, sort: 'username' }, MAX_PAGE);
    if (page.nextCursor !== null) return null;
    return page.items
      .filter((c) => c.targetKind === kind)
      .map((c) => ({ value: c.id, label: `${c.username} on ${c.targetName}` }));
  } catch {
    return null;
  }
}

function privilegedField(value: unknown, accounts: Accounts, kind: string): Field {
  const name = `c.${PRIVILEGED_FIELD}`;
  const label = 'Privileged account (optional)';
  const stored = typeof value === 'string' ? value : '';
  if (accounts === null) {
    return {
      name,
      label: `${label}: its credential id`,
      value: stored,
      help: 'The id of a credential of this site (its page shows it); used when changeVia is privileged.',
    };
  }
  const known = stored === '' || accounts.some((a) => a.value === stored);
  return {
    name,
    label,
    type: 'select',
    value: stored,
    options: [
      { value: '', label: '(none)' },
      ...(known
        ? []
        : [{ value: stored, label: `${stored} (not among this site's ${kindLabel(kind)} accounts)` }]),
      ...accounts,
    ],
    help: "An account on the same host that may set other accounts' passwords; used when changeVia is privileged.",
  };
}

function formField(
  f: FormField,
  stored: Record<string, unknown> | undefined,
  kind: string,
  accounts: Accounts,
): Field {
  const value = stored?.[f.name];
  const label = `${f.name}${f.required ? '' : ' (optional)'}`;
  const help = f.default !== undefined ? `Default: ${JSON.stringify(f.default)}` : undefined;
  const name = `c.${f.name}`;
  if (f.name === PRIVILEGED_FIELD) return privilegedField(value, accounts, kind);
  switch (f.type) {
    case 'boolean':
      return { name, label, type: 'checkbox', value: (value ?? f.default) === true, help };
    case 'choice':
      return {
        name,
        label,
        type: 'select',
        value: String(value ?? f.default ?? ''),
        options: [
          ...(f.required || f.default !== undefined ? [] : [{ value: '', label: '(none)' }]),
          ...(f.options ?? []).map((o) => ({ value: o, label: o })),
        ],
        help,
      };
    case 'integer':
    case 'number':
      return { name, label, type: 'number', value: value === undefined ? '' : Number(value), help };
    case 'json': {
      const example =
        kind === 'web' && f.name === 'login' && stored === undefined ? WEB_LOGIN_EXAMPLE : undefined;
      const shown = value ?? example;
      return {
        name,
        label: `${label}, JSON`,
        type: 'textarea',
        value: shown === undefined ? '' : JSON.stringify(shown, null, 2),
        required: f.required,
        help: help ?? (kind === 'web' ? 'A workflow of steps: docs/adapters/web.md' : undefined),
      };
    }
    default:
      return { name, label, value: value === undefined ? '' : String(value), required: f.required, help };
  }
}

/**
 * The connection the form says. Editing (`stored` given), a field left empty that the stored
 * connection has is sent as null (removed); creating, it is left out (its default applies).
 */
function connectionOf(
  variant: Variant,
  v: FormValues,
  stored: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (variant.by) out[variant.by.field] = variant.by.value;
  for (const f of variant.fields) {
    const raw = v[`c.${f.name}`];
    if (f.type === 'boolean') {
      out[f.name] = raw === true;
      continue;
    }
    const text = typeof raw === 'string' ? raw : '';
    if (text === '') {
      if (stored && f.name in stored) out[f.name] = null;
      continue;
    }
    if (f.type === 'integer' || f.type === 'number') out[f.name] = Number(text);
    else if (f.type === 'json') {
      try {
        out[f.name] = JSON.parse(text);
      } catch (err) {
        const message = `not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
        throw new ApiError(400, 'VALIDATION_FAILED', `connection.${f.name}: ${message}`, [
          { field: `connection.${f.name}`, message },
        ]);
      }
    } else out[f.name] = text;
  }
  return out;
}

/** `body.connection.tls.mode` → the form's `c.tls`; `body.name` → `name`. */
function fieldOf(apiField: string): string | undefined {
  const parts = apiField.replace(/^body\./, '').split('.');
  if (parts[0] === 'connection' && parts[1]) return `c.${parts[1]}`;
  return parts[0];
}

/** New target: the site, name and kind first, then the kind's form. Resolves the new target's id. */
export async function createTargetDialog(sites: Site[], siteId?: string): Promise<string | null> {
  const kinds = Object.entries(TARGET_FORMS).flatMap(([kind, variants]) =>
    variants.map((v) => ({ value: variantKey(kind, v), label: variantLabel(kind, v) })),
  );
  let first: FormValues | null = null;
  await formDialog({
    title: 'New target',
    intro: 'Choose its kind: the next step asks for what that kind of target needs.',
    fields: [
      {
        name: 'siteId',
        label: 'Site',
        type: 'select',
        value: siteId ?? '',
        options: sites.map((s) => ({ value: s.id, label: s.name })),
      },
      { name: 'kind', label: 'Kind', type: 'select', options: kinds },
    ],
    confirm: 'Next',
    submit: async (v) => {
      first = v;
    },
  });
  const chosen = first as FormValues | null;
  if (!chosen) return null;
  const { kind, variant } = variantOf(String(chosen.kind));
  const accounts = await siteAccounts(String(chosen.siteId), kind, variant);
  let created: string | null = null;
  await formDialog({
    title: `New ${variantLabel(kind, variant)} target`,
    fields: [
      { name: 'name', label: 'Name', required: true },
      ...variant.fields.map((f) => formField(f, undefined, kind, accounts)),
    ],
    confirm: 'Create target',
    done: 'Target created',
    fieldOf,
    submit: async (v) => {
      const t = await api.post<{ id: string }>('/targets', {
        siteId: chosen.siteId,
        name: v.name,
        kind,
        connection: connectionOf(variant, v, undefined),
      });
      created = t.id;
    },
  });
  return created;
}

/** Edit a target: its name and connection, by its kind's form. Resolves true once saved. */
export async function editTargetDialog(t: TargetLike): Promise<boolean> {
  const variant = storedVariant(t);
  if (!variant) return false;
  const accounts = await siteAccounts(t.siteId, t.kind, variant);
  return formDialog({
    title: `Edit ${t.name}`,
    intro: `${variantLabel(t.kind, variant)}. Changing where its passwords go (host, port, URLs, TLS, the privileged account) needs the admin role.`,
    fields: [
      { name: 'name', label: 'Name', value: t.name, required: true },
      ...variant.fields.map((f) => formField(f, t.connection, t.kind, accounts)),
    ],
    confirm: 'Save',
    done: 'Target saved',
    fieldOf,
    submit: (v) =>
      api.patch(`/targets/${t.id}`, {
        ...(v.name !== t.name ? { name: v.name } : {}),
        connection: connectionOf(variant, v, t.connection),
      }),
  });
}
