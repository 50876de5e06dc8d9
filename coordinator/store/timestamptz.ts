/**
 * A parser of `timestamptz` values as PostgreSQL sends them in its ISO date style
 * (`2026-12-07 06:48:17.123456+00`, `…+05:30`, `…-03`), with `fallback` (the driver's own parser)
 * for anything else: infinity, BC dates, years before 100 or after 9999, other date styles.
 *
 * Why: the driver's parser matches three regular expressions per value; the credential rows carry
 * about fifteen timestamps each and the hot path reads thousands of rows a second, which made that
 * parser a tenth of everything the coordinator allocated. This one reads the digits in place. Same
 * result: the fraction is truncated to milliseconds, as `Date` does.
 */
export function timestamptzParser(fallback: (text: string) => unknown): (text: string) => unknown {
  return (text) => {
    const end = text.length;
    // YYYY-MM-DD HH:MM:SS and at least a sign and two digits of offset.
    if (
      end < 22 ||
      text.charCodeAt(4) !== DASH ||
      text.charCodeAt(7) !== DASH ||
      text.charCodeAt(10) !== SPACE ||
      text.charCodeAt(13) !== COLON ||
      text.charCodeAt(16) !== COLON
    ) {
      return fallback(text);
    }
    const year = digits(text, 0, 4);
    const month = digits(text, 5, 2);
    const day = digits(text, 8, 2);
    const hour = digits(text, 11, 2);
    const minute = digits(text, 14, 2);
    const second = digits(text, 17, 2);
    if (year < 100 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return fallback(text);
    let i = 19;
    let ms = 0;
    if (text.charCodeAt(i) === DOT) {
      i++;
      const from = i;
      for (let scale = 100; i < end; i++, scale /= 10) {
        const d = text.charCodeAt(i) - ZERO;
        if (d < 0 || d > 9) break;
        if (scale >= 1) ms += d * scale;
      }
      if (i === from) return fallback(text);
    }
    const sign = text.charCodeAt(i) === PLUS ? 1 : text.charCodeAt(i) === DASH ? -1 : 0;
    if (sign === 0) return fallback(text);
    // Offset: HH, HH:MM or HH:MM:SS.
    let offset = 0;
    let unit = 3_600_000;
    for (i++; ; unit /= 60) {
      const part = digits(text, i, 2);
      if (part < 0) return fallback(text);
      offset += part * unit;
      i += 2;
      if (i === end) break;
      if (text.charCodeAt(i) !== COLON || unit === 1_000) return fallback(text);
      i++;
    }
    return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms) - sign * offset);
  };
}

const ZERO = 48;
const DASH = 45;
const PLUS = 43;
const COLON = 58;
const DOT = 46;
const SPACE = 32;

/** The number written by `count` decimal digits at `from`, or -1. */
function digits(text: string, from: number, count: number): number {
  if (from + count > text.length) return -1;
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const d = text.charCodeAt(i) - ZERO;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}
