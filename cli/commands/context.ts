import type { ApiClient } from '../client.js';
import { table } from '../format.js';
import { apiPath, intFlag, query, str, type CommandContext, type Flags, type Row } from './command.js';

interface ListPage<T> {
  items: T[];
  nextCursor: string | null;
}

export function commandContext(api: ApiClient, args: string[], flags: Flags): CommandContext {
  const out = (value: unknown, render: () => string) =>
    process.stdout.write(`${flags.json ? JSON.stringify(value, null, 2) : render()}\n`);

  // Checked here like every number flag: a typo is a usage error, nothing is sent.
  const limit = intFlag(flags, 'limit')?.toString();
  const list = async <T extends object>(
    p: string,
    params: Record<string, string | undefined>,
    columns: string[],
    row: (item: T) => Row = (item) => item as Row,
  ) => {
    let page = await api.call<ListPage<T>>(
      'GET',
      apiPath(`${p}${query({ ...params, limit, cursor: str(flags.cursor) })}`),
    );
    if (flags.all) {
      const items = [...page.items];
      while (page.nextCursor) {
        page = await api.call<ListPage<T>>(
          'GET',
          apiPath(`${p}${query({ ...params, limit: limit ?? '500', cursor: page.nextCursor })}`),
        );
        items.push(...page.items);
      }
      page = { items, nextCursor: null };
    }
    const result = page;
    out(result, () =>
      [table(result.items.map(row), columns), result.nextCursor ? `more: --cursor ${result.nextCursor}` : '']
        .filter(Boolean)
        .join('\n'),
    );
    return 0;
  };

  return { api, args, flags, out, list };
}
