/**
 * "Export CSV / JSON" on the lists (docs/api.md "Exports"): the list's own filter, sent to its
 * `/export` route with the session's token; the answer is saved as a file.
 */
import { ApiError, getToken, qs } from './api.js';
import { h } from './dom.js';
import { act } from './page.js';
import { button } from './ui.js';

type Params = Record<string, string | number | undefined | null>;

/** Downloads `path` (relative to /api/v1) as the file the coordinator names. */
export async function download(path: string, params: Params): Promise<void> {
  const token = getToken();
  const res = await fetch(`/api/v1${path}${qs(params)}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    cache: 'no-store',
  });
  if (!res.ok) {
    const err = (
      (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null
    )?.error;
    throw new ApiError(res.status, err?.code ?? 'HTTP_ERROR', err?.message ?? `HTTP ${res.status}`);
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'export';
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The two buttons, for a list at `path` (e.g. `/credentials/export`) with its current filter. */
export function exportButtons(what: string, path: string, params: () => Params): HTMLElement {
  const one = (format: 'csv' | 'json') =>
    button(
      `Export ${format.toUpperCase()}`,
      async () => {
        await act(
          `Export ${what}`,
          () => download(path, { ...params(), format }),
          `Exported ${what} (${format})`,
        );
      },
      {
        key: `export-${format}`,
        title: `Download every ${what.replace(/s$/, '')} of the current filter as ${format.toUpperCase()}`,
      },
    );
  return h(
    'div',
    { class: 'export-buttons', role: 'group', 'aria-label': `Export ${what}` },
    one('csv'),
    one('json'),
  );
}
