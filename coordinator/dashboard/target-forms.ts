/**
 * The dashboard's target form per kind, from the kinds' connection schemas (shared/targets): for the
 * generated coordinator/dashboard/client/vocabulary.ts (generate-vocabulary.ts). A kind whose
 * schema is a union (service by driver, directory by flavour) has one variant per value of the field
 * they differ by. Scalar fields become inputs; objects and lists (TLS, a web login workflow) are
 * edited as JSON. The API judges the whole connection: its messages name the field.
 */
import { z } from 'zod';
import { TARGET_KINDS, targetSpec } from '../../shared/targets/index.js';

export interface TargetFormField {
  name: string;
  type: 'text' | 'integer' | 'number' | 'boolean' | 'choice' | 'json';
  required: boolean;
  default?: unknown;
  options?: string[];
}

export interface TargetFormVariant {
  /** The field the kind's variants differ by and its value (e.g. `driver: postgres`), if any. */
  by?: { field: string; value: string };
  fields: TargetFormField[];
}

type Schema = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  oneOf?: Schema[];
  anyOf?: Schema[];
};

function field(name: string, s: Schema, required: boolean): TargetFormField {
  const base = { name, required, ...(s.default !== undefined ? { default: s.default } : {}) };
  if (s.enum) return { ...base, type: 'choice', options: s.enum.map(String) };
  switch (s.type) {
    case 'string':
      return { ...base, type: 'text' };
    case 'integer':
      return { ...base, type: 'integer' };
    case 'number':
      return { ...base, type: 'number' };
    case 'boolean':
      return { ...base, type: 'boolean' };
    default:
      return { ...base, type: 'json' };
  }
}

function variant(s: Schema): TargetFormVariant {
  const required = new Set(s.required ?? []);
  const props = Object.entries(s.properties ?? {});
  const by = props.find(([, p]) => p.const !== undefined);
  return {
    ...(by ? { by: { field: by[0], value: String(by[1].const) } } : {}),
    fields: props.filter(([, p]) => p.const === undefined).map(([k, p]) => field(k, p, required.has(k))),
  };
}

export function targetForms(): Record<string, TargetFormVariant[]> {
  const out: Record<string, TargetFormVariant[]> = {};
  for (const kind of TARGET_KINDS) {
    const schema = z.toJSONSchema(targetSpec(kind).connectionSchema, {
      io: 'input',
      unrepresentable: 'any',
    }) as Schema;
    const union = schema.oneOf ?? schema.anyOf;
    out[kind] = union ? union.map(variant) : [variant(schema)];
  }
  return out;
}
