// Centrifugo v6.9.1's own admin web app, served by Rotor from admin.web_path, works
// against Rotor's admin endpoints: it logs in (posting the password as
// multipart/form-data), shows the node and its live client count, and a 401 from
// admin/api logs it out. The app is extracted from the Centrifugo Go module
// (tools/cfwebui.go). Screenshots go to test-output/admin-centrifugo-webapp/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { launch } from '../browser.mjs';
import { defaultConfig, newClient, userToken, withServer } from '../harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));

test('Centrifugo admin web app served with admin.web_path works against Rotor', async () => {
  const web = mkdtempSync(join(tmpdir(), 'cf-webui-'));
  try {
    execFileSync('go', ['run', join(here, '..', 'tools', 'cfwebui.go'), web], { stdio: 'inherit' });
    const cfg = defaultConfig();
    cfg.admin = { enabled: true, password: 'pw', secret: 'sec', web_path: web };
    await withServer(cfg, async (srv) => {
      const { browser, page, shot } = await launch('admin-centrifugo-webapp');
      const client = newClient(srv, { token: userToken('bob') });
      try {
        const statuses = [];
        page.on('response', (r) => { if (r.url().includes('/admin/')) statuses.push(`${r.status()} ${new URL(r.url()).pathname}`); });
        await page.goto(`${srv.baseURL}/`);
        assert.equal(await page.title(), 'Centrifugo');
        await page.locator('input[type=password]').fill('pw');
        await page.keyboard.press('Enter');
        await page.locator('text=NODES RUNNING').waitFor({ timeout: 10000 });
        await page.locator('td', { hasText: 'Rotor' }).first().waitFor();
        assert.ok(statuses.includes('200 /admin/auth'), statuses.join(', '));
        await shot('01-status');

        // The status page polls info every 5 s: the SDK client shows up.
        client.client.connect();
        await client.log.wait('connected');
        await page.waitForFunction(() => /TOTAL CLIENTS:\s*1\b/.test(document.body.innerText), null, { timeout: 15000 });
        await shot('02-status-with-client');

        // A token the server rejects: the app's admin/api call gets 401 and it logs out.
        await page.evaluate(() => localStorage.setItem('token', 'garbage'));
        await page.reload();
        await page.locator('input[type=password]').waitFor({ timeout: 10000 });
        assert.ok(statuses.includes('401 /admin/api'), statuses.join(', '));
        await shot('03-logged-out');
      } finally {
        client.client.disconnect();
        await browser.close();
      }
    });
  } finally {
    rmSync(web, { recursive: true, force: true });
  }
});
