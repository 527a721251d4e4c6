// Shared launcher of the browser tests: Debian's Chromium driven by playwright-core
// (no browser download). A missing browser fails the test, never skips it.
// Screenshots go to e2e/js/screenshots/ (git-ignored; $SCREENSHOT_DIR overrides).
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || join(dirname(fileURLToPath(import.meta.url)), 'screenshots');

// Launches headless Chromium and opens a page; close the returned browser when done.
// With a suite name, shot(name) saves screenshots/<suite>/<name>.png.
export async function launch(suite = '', { viewport = { width: 1280, height: 900 } } = {}) {
  const args = ['--no-sandbox'];
  // TLS runs (tls-run.mjs): trust exactly the test certificate's key, nothing else.
  if (process.env.ROTOR_E2E_TLS_SPKI) args.push(`--ignore-certificate-errors-spki-list=${process.env.ROTOR_E2E_TLS_SPKI}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args });
  const page = await browser.newPage({ viewport });
  const shotDir = join(SCREENSHOT_DIR, suite);
  const shot = (name) => screenshot(page, suite ? join(suite, name) : name);
  return { browser, page, shotDir, shot };
}

// Saves a full-page screenshot as screenshots/<name>.png and returns its path.
export async function screenshot(page, name) {
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
  return path;
}
