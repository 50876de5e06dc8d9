/**
 * The dashboard's target forms (coordinator/dashboard/target-forms.ts) come from the kinds'
 * connection schemas: every kind has one, a union kind one variant per value of the field its
 * variants differ by, objects and lists are JSON, required fields are marked.
 */
import { describe, expect, it } from 'vitest';
import { targetForms } from '../../coordinator/dashboard/target-forms.js';
import { TARGET_KINDS } from '../../shared/targets/index.js';

describe('target forms', () => {
  const forms = targetForms();
  const field = (kind: string, name: string, variant = 0) =>
    forms[kind]![variant]!.fields.find((f) => f.name === name);

  it('one per kind, from its schema', () => {
    expect(Object.keys(forms).sort()).toEqual([...TARGET_KINDS].sort());
    expect(field('workstation', 'host')).toMatchObject({ type: 'text', required: true });
    expect(field('workstation', 'port')).toMatchObject({ type: 'integer', required: false, default: 22 });
    expect(field('workstation', 'changeVia')).toMatchObject({
      type: 'choice',
      options: ['self', 'privileged'],
    });
    expect(field('simulated', 'canChange')).toMatchObject({ type: 'boolean', default: true });
  });

  it('a variant per driver or flavour, without the field they differ by', () => {
    expect(forms.service!.map((v) => v.by)).toEqual([
      { field: 'driver', value: 'postgres' },
      { field: 'driver', value: 'mysql' },
    ]);
    expect(forms.directory!.map((v) => v.by?.value)).toEqual(['active_directory', 'ldap']);
    for (const v of [...forms.service!, ...forms.directory!])
      expect(v.fields.map((f) => f.name)).not.toContain(v.by!.field);
    expect(field('service', 'accountHost', 1)).toMatchObject({ type: 'text', default: '%' });
  });

  it('objects and lists (TLS, a web workflow) are edited as JSON', () => {
    expect(field('web', 'login')).toMatchObject({ type: 'json', required: true });
    expect(field('web', 'change')).toMatchObject({ type: 'json', required: false });
    expect(field('service', 'tls')).toMatchObject({ type: 'json' });
  });
});
