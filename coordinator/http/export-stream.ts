import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';

/** One CSV column: its header and how a row gives its cell. */
export type CsvColumn<T> = [header: string, cell: (row: T) => unknown];

/** Rows read a page at a time (keyset pages): the next page is read only once the last is written. */
export type Pages<T> = () => AsyncGenerator<T[]>;

/** Rows per page an export reads (one query each). */
export const EXPORT_PAGE = 1000;

/**
 * Keyset pages of EXPORT_PAGE rows: `read(after)` reads the rows after the key of the last one
 * read (null first), `view` turns a page into what is written; a short page is the last.
 */
export async function* keysetPages<R, K, V>(
  read: (after: K | null) => Promise<R[]>,
  keyOf: (last: R) => K,
  view: (rows: R[]) => V[] | Promise<V[]>,
): AsyncGenerator<V[]> {
  let after: K | null = null;
  for (;;) {
    const rows = await read(after);
    yield await view(rows);
    const last = rows.at(-1);
    if (rows.length < EXPORT_PAGE || last === undefined) return;
    after = keyOf(last);
  }
}

/**
 * A CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break. A text that a
 * spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`, so an
 * exported username cannot become a formula in whoever opens the file.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text =
    typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const csvLine = (cells: unknown[]) => `${cells.map(csvCell).join(',')}\r\n`;

/**
 * Streams an export: the response is written page by page as the pages are read (the Readable pulls
 * the next page only when the socket took the last one), so a list of any length is never held in
 * memory. JSON is an array of the views; `wrap` puts it inside an object (`{"site":…,"items":[…]}`).
 */
export function streamExport<T>(
  reply: FastifyReply,
  opts: {
    format: 'json' | 'csv';
    /** The download's file name, without extension. */
    filename: string;
    pages: Pages<T>;
    columns: CsvColumn<T>[];
    /** JSON only: the fields written before the `items` array. */
    wrap?: Record<string, unknown>;
  },
): Readable {
  const { format, pages, columns, wrap } = opts;
  reply.header(
    'content-type',
    format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
  );
  reply.header('content-disposition', `attachment; filename="${opts.filename}.${format}"`);
  reply.header('cache-control', 'no-store');
  async function* body(): AsyncGenerator<string> {
    if (format === 'csv') yield csvLine(columns.map(([header]) => header));
    else
      yield wrap
        ? `${JSON.stringify(wrap).slice(0, -1)}${Object.keys(wrap).length ? ',' : ''}"items":[`
        : '[';
    let first = true;
    for await (const page of pages()) {
      if (page.length === 0) continue;
      if (format === 'csv') yield page.map((row) => csvLine(columns.map(([, cell]) => cell(row)))).join('');
      else {
        yield `${first ? '\n' : ',\n'}${page.map((row) => JSON.stringify(row)).join(',\n')}`;
        first = false;
      }
    }
    if (format === 'json') yield wrap ? '\n]}\n' : '\n]\n';
  }
  return Readable.from(body(), { objectMode: false });
}
