// Shared headless-browser launcher for the browser tests: Debian's Chromium driven by
// playwright-core (no browser download). A missing browser fails the test.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// Launches the browser and opens a page; returns {browser, page, shotDir, shot}.
// shot(name) saves <shotDir>/<name>.png; shotDir is test-output/<suite>
// (or $TEST_OUTPUT_DIR/<suite>).
export async function launch(suite, { viewport = { width: 1280, height: 900 } } = {}) {
  const args = ['--no-sandbox'];
  // TLS runs (tls-run.mjs): trust exactly the test certificate's key, nothing else.
  if (process.env.ROTOR_E2E_TLS_SPKI) args.push(`--ignore-certificate-errors-spki-list=${process.env.ROTOR_E2E_TLS_SPKI}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args });
  const page = await browser.newPage({ viewport });
  const shotDir = join(process.env.TEST_OUTPUT_DIR || join(here, 'test-output'), suite);
  mkdirSync(shotDir, { recursive: true });
  const shot = (name) => page.screenshot({ path: join(shotDir, `${name}.png`), fullPage: true });
  return { browser, page, shotDir, shot };
}
