/**
 * The dashboard's status colours (coordinator/dashboard/static/app.css): white badge text on each
 * is readable (WCAG AA contrast, 4.5:1), and statuses an operator must tell apart at a glance
 * (Pending Sync, Agent Disabled, Out of Sync) are of clearly different hues.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../support/paths.js';

const css = readFileSync(join(REPO_ROOT, 'coordinator/dashboard/static/app.css'), 'utf8');
const colours = Object.fromEntries(
  [...css.matchAll(/--st-(\w+):\s*#([0-9a-f]{6});/gi)].map((m) => [m[1]!, m[2]!]),
);
const rgb = (hex: string) => [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
const luminance = (hex: string) => {
  const [r, g, b] = rgb(hex).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
};
const hue = (hex: string) => {
  const [r, g, b] = rgb(hex) as [number, number, number];
  const max = Math.max(r, g, b);
  const d = max - Math.min(r, g, b);
  if (d === 0) return 0;
  const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (h * 60 + 360) % 360;
};
const hueDistance = (a: string, b: string) => {
  const d = Math.abs(hue(a) - hue(b));
  return Math.min(d, 360 - d);
};

it('white text on every status colour has at least 4.5:1 contrast', () => {
  expect(Object.keys(colours).length).toBe(8);
  for (const [status, hex] of Object.entries(colours)) {
    expect(1.05 / (luminance(hex) + 0.05), status).toBeGreaterThanOrEqual(4.5);
  }
});

it('Pending Sync, Agent Disabled and Out of Sync are of clearly different hues', () => {
  const [pending, disabled, out] = [colours.pending_sync!, colours.agent_disabled!, colours.out_of_sync!];
  expect(hueDistance(pending, disabled)).toBeGreaterThan(60);
  expect(hueDistance(disabled, out)).toBeGreaterThan(60);
});
