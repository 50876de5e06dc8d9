import { isMap, parseDocument } from 'yaml';
import type { FileDependency } from '../../shared/contracts/dependencies.js';

/** The file's new text with the password in its place, or why it cannot be placed (never quoting the file). */
export type Edit = { ok: true; text: string } | { ok: false; message: string };

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Puts `password` where the definition says (docs/adapters/dependencies.md): the first capture group
 * of every match of `pattern`; the value of `key` on `key=value` / `key: value` lines; the value at
 * the dotted `key` of a JSON or YAML document. The rest of the text is kept as it is.
 */
export function placePassword(d: FileDependency, text: string, password: string): Edit {
  switch (d.format) {
    case 'pattern':
      return byPattern(new RegExp(d.pattern!, 'gm'), text, password);
    case 'keyvalue':
      return byPattern(
        new RegExp(`^(?:[ \\t]*${escapeRegExp(d.key!)}[ \\t]*[=:][ \\t]*)(.*?)[ \\t]*$`, 'gm'),
        text,
        password,
      );
    case 'json':
      return inJson(text, d.key!.split('.'), password);
    case 'yaml':
      return inYaml(text, d.key!.split('.'), password);
  }
}

function byPattern(re: RegExp, text: string, password: string): Edit {
  const spans: [number, number][] = [];
  for (const m of text.matchAll(new RegExp(re.source, 'gmd'))) {
    const span = m.indices?.[1];
    if (span) spans.push(span);
  }
  if (spans.length === 0) return { ok: false, message: 'the pattern or key was not found in the file' };
  let out = '';
  let from = 0;
  for (const [start, end] of spans) {
    out += text.slice(from, start) + password;
    from = end;
  }
  return { ok: true, text: out + text.slice(from) };
}

function inJson(text: string, path: string[], password: string): Edit {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, message: 'the file is not valid JSON' };
  }
  let node = doc as Record<string, unknown>;
  for (const key of path.slice(0, -1)) {
    const next = node?.[key];
    if (next === null || typeof next !== 'object') return { ok: false, message: `no object at '${key}'` };
    node = next as Record<string, unknown>;
  }
  const last = path.at(-1)!;
  if (node === null || typeof node !== 'object' || !(last in node)) {
    return { ok: false, message: `the key '${path.join('.')}' was not found in the file` };
  }
  node[last] = password;
  const indent = /^[ \t]+/m.exec(text)?.[0] ?? '  ';
  return { ok: true, text: `${JSON.stringify(doc, null, indent)}${text.endsWith('\n') ? '\n' : ''}` };
}

function inYaml(text: string, path: string[], password: string): Edit {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return { ok: false, message: 'the file is not valid YAML' };
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1)) : doc.contents;
  if (!isMap(parent) || !parent.has(path.at(-1)!)) {
    return { ok: false, message: `the key '${path.join('.')}' was not found in the file` };
  }
  doc.setIn(path, password);
  return { ok: true, text: doc.toString() };
}
