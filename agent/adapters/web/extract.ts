import { parse } from 'node-html-parser';
import type { Extract } from '../../../shared/targets/web-workflow.js';
import type { CookieJar } from './cookies.js';

/** What a step's assertions and extractions look at. */
export interface Response {
  status: number;
  /** Lower-case names, as undici gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A header's value; several are joined with ', ' (Set-Cookie with '\n'). */
export function headerValue(res: Response, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(name.toLowerCase() === 'set-cookie' ? '\n' : ', ') : value;
}

/** First capture group of `regex` in `text`, or the whole match when it has no group. */
export function byRegex(text: string, regex: string): string | undefined {
  const m = new RegExp(regex).exec(text);
  if (m === null) return undefined;
  return m.length > 1 ? m[1] : m[0];
}

/** The first element matching `selector`: its attribute (entities decoded), or its text. */
export function byCss(html: string, selector: string, attribute?: string): string | undefined {
  let el;
  try {
    el = parse(html).querySelector(selector);
  } catch {
    return undefined;
  }
  if (el === null) return undefined;
  if (attribute === undefined) return el.text.trim();
  return el.getAttribute(attribute);
}

/** `data.token`, `items.0.id` in a JSON text; objects and arrays come back as JSON. */
export function byJsonPath(text: string, path: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    if (Array.isArray(value)) {
      if (!/^\d+$/.test(key)) return undefined;
      value = value[Number(key)];
    } else {
      if (!Object.prototype.hasOwnProperty.call(value, key)) return undefined;
      value = (value as Record<string, unknown>)[key];
    }
  }
  if (value === undefined || value === null) return undefined;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The value `e` names in a response (cookies: as the jar holds them after it), or undefined. */
export function extractValue(e: Extract, res: Response, jar: CookieJar): string | undefined {
  let source: string | undefined;
  switch (e.from) {
    case 'body':
      if (e.css) return byCss(res.body, e.css.selector, e.css.attribute);
      if (e.jsonPath !== undefined) return byJsonPath(res.body, e.jsonPath);
      source = res.body;
      break;
    case 'header':
      source = e.header === undefined ? undefined : headerValue(res, e.header);
      break;
    case 'cookie':
      source = e.cookie === undefined ? undefined : jar.get(e.cookie);
      break;
  }
  if (source === undefined) return undefined;
  return e.regex === undefined ? source : byRegex(source, e.regex);
}
