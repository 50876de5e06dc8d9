/**
 * Naming a target or policy in a CSV row by id or unique name (`syncctl import`, and the dashboard's
 * Import CSV, which gets a copy of this file at build time: coordinator/dashboard/generate-vocabulary.ts).
 * Dependency-free, for that reason.
 */

export interface Named {
  id: string;
  name: string;
}

/** A value shaped as an id: taken as one, never looked up as a name. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Resolves an id or a unique name to an id, or says why it cannot. */
export function resolver(kind: string, items: Named[]): (value: string) => string | { error: string } {
  const byId = new Set(items.map((i) => i.id.toLowerCase()));
  const byName = new Map<string, string[]>();
  for (const i of items) byName.set(i.name, [...(byName.get(i.name) ?? []), i.id]);
  return (value) => {
    if (UUID.test(value))
      return byId.has(value.toLowerCase()) ? value : { error: `no ${kind} with id ${value}` };
    const ids = byName.get(value) ?? [];
    if (ids.length === 1) return ids[0]!;
    if (ids.length === 0) return { error: `no ${kind} named '${value}'` };
    return { error: `${ids.length} ${kind}s are named '${value}' (on different sites): use the id` };
  };
}
