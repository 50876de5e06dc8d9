/**
 * LDAP distinguished names (RFC 4514): syntax check, and escaping a value into an RDN. A space after
 * a comma or around `=` is accepted (directories and their documentation write DNs that way).
 */

const ATTRIBUTE_TYPE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/;
const HEX_VALUE = /^#(?:[0-9A-Fa-f]{2})+$/;
const SPECIAL = new Set(['"', '+', ',', ';', '<', '>', '\\', '=', '#', ' ']);

/** Why `value` is not a DN (e.g. `RDN 2: no "=" in "foo"`), or undefined when it is one. */
export function dnProblem(value: string): string | undefined {
  if (value.trim() === '') return 'empty';
  if (value.includes('\u0000')) return 'contains NUL';
  const rdns = split(value, ',');
  if (typeof rdns === 'string') return rdns;
  for (const [i, rdn] of rdns.entries()) {
    const parts = split(rdn, '+');
    if (typeof parts === 'string') return `RDN ${i + 1}: ${parts}`;
    for (const part of parts) {
      const problem = atvProblem(part);
      if (problem !== undefined) return `RDN ${i + 1}: ${problem}`;
    }
  }
  return undefined;
}

export const isDn = (value: string): boolean => dnProblem(value) === undefined;

/** Splits on unescaped `sep`; a string when an escape is broken. */
function split(text: string, sep: ',' | '+'): string[] | string {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      const next = text[i + 1];
      if (next === undefined) return 'ends with a lone "\\"';
      current += ch + next;
      i += 1;
    } else if (ch === sep) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out;
}

function atvProblem(atv: string): string | undefined {
  const eq = indexOfUnescaped(atv, '=');
  if (eq < 0) return `no "=" in "${atv.trim()}"`;
  const type = atv.slice(0, eq).trim();
  if (!ATTRIBUTE_TYPE.test(type)) return `"${type}" is not an attribute type`;
  const value = atv.slice(eq + 1).replace(/^ +/, '');
  if (value === '') return `empty value for ${type}`;
  if (value.startsWith('#')) return HEX_VALUE.test(value.trimEnd()) ? undefined : `bad hex value for ${type}`;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\') {
      const next = value[i + 1] ?? '';
      if (SPECIAL.has(next)) {
        i += 1;
      } else if (/^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
        i += 2;
      } else {
        return `bad escape in the value of ${type}`;
      }
    } else if (ch === '"' || ch === ';' || ch === '<' || ch === '>') {
      return `unescaped ${ch} in the value of ${type}`;
    }
  }
  return undefined;
}

function indexOfUnescaped(text: string, ch: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === ch) return i;
  }
  return -1;
}

/** `value` escaped to stand as an RDN value (RFC 4514 section 2.4). */
export function escapeRdnValue(value: string): string {
  const chars = [...value];
  return chars
    .map((ch, i) => {
      if (ch === '\u0000') return '\\00';
      if ('"+,;<>\\='.includes(ch)) return `\\${ch}`;
      if (i === 0 && (ch === '#' || ch === ' ')) return `\\${ch}`;
      if (i === chars.length - 1 && ch === ' ') return '\\ ';
      return ch;
    })
    .join('');
}

/** The placeholder a DN template takes the username at. */
export const USERNAME_PLACEHOLDER = '{username}';

/** The template with `username` escaped into it. */
export const fillDnTemplate = (template: string, username: string): string =>
  template.split(USERNAME_PLACEHOLDER).join(escapeRdnValue(username));
