/**
 * The filters of `credentials list` and `credentials bulk` take a name as well as an id: `--site
 * Berlin`, `--target files-01`, `--group web-admins`. A name is looked up through the API (sites and
 * sync groups have unique names; a target's name is unique on its site, so --site narrows it); an id
 * is passed as it is. An unknown or ambiguous name is an error that says so, before anything is asked.
 */
import type { ApiClient } from '../client.js';
import { resolver, UUID, type Named } from '../names.js';
import { query, str, type Flags } from './command.js';

interface Page {
  items: Named[];
  nextCursor?: string | null;
}

/** Every item of a list read page by page. */
async function all(
  api: ApiClient,
  path: string,
  params: Record<string, string | undefined>,
): Promise<Named[]> {
  const items: Named[] = [];
  let cursor: string | undefined;
  do {
    const page: Page = await api.call('GET', `/api/v1${path}${query({ ...params, cursor })}`);
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

/** The id a flag's value names, or an error naming the flag. */
async function idOf(
  flag: string,
  kind: string,
  value: string | undefined,
  candidates: () => Promise<Named[]>,
  hint = '',
): Promise<string | undefined> {
  if (value === undefined || UUID.test(value)) return value;
  const id = resolver(kind, await candidates())(value);
  if (typeof id === 'string') return id;
  throw new Error(`--${flag}: ${id.error}${id.error.includes(' are named ') ? hint : ''}`);
}

/** The list's filters with --site, --target and --group as ids, whatever the user gave. */
export async function resolveFilterNames(
  api: ApiClient,
  flags: Flags,
): Promise<{ siteId?: string | undefined; targetId?: string | undefined; groupId?: string | undefined }> {
  const siteId = await idOf('site', 'site', str(flags.site), () => all(api, '/sites', {}));
  const target = str(flags.target);
  const targetId = await idOf(
    'target',
    'target',
    target,
    async () =>
      (await all(api, '/targets', { siteId, q: target, limit: '1000' })).filter((t) => t.name === target),
    siteId ? '' : ', or name the site with --site',
  );
  const groupId = await idOf('group', 'sync group', str(flags.group), () => all(api, '/sync-groups', {}));
  return { siteId, targetId, groupId };
}
