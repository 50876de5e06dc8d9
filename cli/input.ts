import { readFileSync } from 'node:fs';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A file (or stdin: 0) as text, refused when it is not UTF-8: decoding bytes that are not (a
 * Latin-1 CSV) would store U+FFFD where the file had another character, a password nobody chose.
 * `what` names the input in the message (`--password-stdin`, `FILE.csv`).
 */
export function readText(source: string | 0, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(source);
  } catch (err) {
    throw new Error(
      `${what}: cannot read ${source === 0 ? 'stdin' : source} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new Error(`${what}: not UTF-8 text (save the file as UTF-8)`);
  }
}

/** A JSON file, or a clear error naming the flag that never quotes the file (it may hold passwords). */
export function readJsonFile(path: string, what: string): unknown {
  const text = readText(path, what);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what}: ${path} is not valid JSON`);
  }
}
