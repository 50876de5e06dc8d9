/** Headless Debian Chromium (playwright-core) for the browser tests, and signing in to the dashboard. */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ARTIFACTS_DIR, REPO_ROOT } from '../support/paths.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SHOTS = join(ARTIFACTS_DIR, 'screenshots');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (bash .ci/run installs it)`);
  }
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
}

/**
 * A new page signed in with `token`, on the Overview. Page errors and console errors go to `errors`,
 * but for console lines matching `expected` (a refusal the dashboard shows is logged as a failed request).
 */
export async function signIn(
  browser: Browser,
  url: string,
  token: string,
  errors: string[],
  expected?: RegExp,
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected?.test(m.text())) errors.push(m.text());
  });
  await page.goto(url);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  return page;
}

/**
 * A full-page screenshot in tests/artifacts/screenshots/NAME.png; with UPDATE_DOCS_SCREENSHOTS=1 also
 * docs/screenshots/NAME.png (docs/dashboard.md shows it).
 */
export async function docScreenshot(page: Page, name: string): Promise<void> {
  // Without the toasts of earlier steps: they say nothing about the page shown.
  await page.evaluate("document.getElementById('toast')?.replaceChildren()");
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  if (process.env.UPDATE_DOCS_SCREENSHOTS === '1')
    copyFileSync(join(SHOTS, `${name}.png`), join(REPO_ROOT, 'docs', 'screenshots', `${name}.png`));
}
