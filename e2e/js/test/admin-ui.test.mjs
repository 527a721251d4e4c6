// The admin UI in headless Chromium against a real server: log in, watch the
// dashboard's live numbers move while the test connects a centrifuge-js client and
// publishes through the API, find the channel, see a publication arrive in the live
// tail, publish from the UI, disconnect the user from the user page (the SDK client
// must see the disconnect), and get logged out by a 401. Screenshots go to
// test-output/admin-ui/.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { launch } from '../browser.mjs';
import { defaultConfig, newClient, newSub, userToken, withServer } from '../harness.mjs';

const PASSWORD = 'admin-password';

function adminConfig() {
  const cfg = defaultConfig();
  cfg.admin = { enabled: true, password: PASSWORD, secret: 'admin-secret' };
  cfg.channel.namespaces.push({
    name: 'room', presence: true, history_size: 20, history_ttl: '300s', allow_subscribe_for_client: true,
  });
  return cfg;
}

// cellText reads a dashboard cell of the first node row.
const cell = (page, k) => page.locator(`tr.node td[data-k="${k}"]`).first().textContent();

async function waitCell(page, k, pred, what) {
  const deadline = Date.now() + 10000;
  let last;
  while (Date.now() < deadline) {
    last = await cell(page, k).catch(() => undefined);
    if (last !== undefined && pred(Number(last))) return Number(last);
    await page.waitForTimeout(100);
  }
  throw new Error(`dashboard ${k}: ${what} not seen within 10 s (last ${last})`);
}

test('admin UI: login, live dashboard, channel live tail, actions, disconnect a user', async () => {
  await withServer(adminConfig(), async (srv) => {
    const { browser, page, shot } = await launch('admin-ui');
    const clients = [];
    try {
      const consoleErrors = [];
      page.on('pageerror', (e) => consoleErrors.push(String(e)));

      // Login: a wrong password is refused, the right one opens the dashboard.
      await page.goto(`${srv.baseURL}/`);
      await page.locator('#password').waitFor();
      await page.fill('#password', 'wrong');
      await page.click('#login-submit');
      await page.waitForFunction(() => document.querySelector('#login-error')?.textContent === 'Wrong password');
      await page.fill('#password', PASSWORD);
      await page.click('#login-submit');
      await page.locator('tr.node').first().waitFor();
      assert.match(await cell(page, 'version'), /Rotor/);
      await waitCell(page, 'num_clients', (v) => v === 0, 'zero clients');
      await shot('01-dashboard-idle');

      // A real SDK client appears in the live numbers.
      const { client, log } = newClient(srv, { token: userToken('alice') });
      clients.push(client);
      const { sub, log: sublog } = newSub(client, 'room:lobby');
      const received = [];
      sub.on('publication', (ctx) => received.push(ctx.data));
      sub.subscribe();
      client.connect();
      await log.wait('connected');
      await sublog.wait('subscribed');
      await waitCell(page, 'num_clients', (v) => v === 1, 'one client');
      await waitCell(page, 'num_users', (v) => v === 1, 'one user');
      await waitCell(page, 'num_subs', (v) => v === 1, 'one subscription');
      await waitCell(page, 'num_channels', (v) => v === 1, 'one channel');
      // Messages in/out per second move while the test publishes (and the graphs
      // get their points): publish in the background until both rates show.
      let publishing = true, n = 0;
      const publisher = (async () => {
        while (publishing) {
          await srv.mustApi('publish', { channel: 'room:lobby', data: { n: n++ } });
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      try {
        await waitCell(page, 'in_rate', (v) => v > 0, 'messages in/s > 0');
        await waitCell(page, 'out_rate', (v) => v > 0, 'messages out/s > 0');
      } finally {
        publishing = false;
        await publisher;
      }
      const lastN = n - 1;
      // The graphs got points: uPlot draws into canvases, one per chart.
      assert.ok(await page.locator('.node-charts canvas').count() >= 2, 'two graphs per node');
      await page.waitForTimeout(1500); // let a few polls land so the graphs have a line
      await shot('02-dashboard-live');

      // Channels: searchable, with subscriber counts.
      await page.click('a[href="#/channels"]');
      await page.locator('tr.channel[data-channel="room:lobby"]').waitFor();
      assert.equal(await page.locator('tr.channel[data-channel="room:lobby"] td').nth(1).textContent(), '1');
      await page.fill('#channel-search', 'nomatch');
      await page.locator('tr.channel').first().waitFor({ state: 'detached' });
      await page.fill('#channel-search', 'lob');
      await page.locator('tr.channel[data-channel="room:lobby"]').waitFor();
      await shot('03-channels');

      // Channel page: presence, history, and the live tail receiving a publication.
      await page.click('tr.channel[data-channel="room:lobby"] a');
      await page.waitForFunction(() => document.querySelector('#tail-status')?.dataset.state === 'live');
      await srv.mustApi('publish', { channel: 'room:lobby', data: { text: 'tail-check-1' } });
      await page.locator('#tail tr.pub', { hasText: 'tail-check-1' }).waitFor({ timeout: 10000 });
      await page.locator('text=alice').first().waitFor();
      await page.locator('td.data', { hasText: `{"n":${lastN}}` }).first().waitFor(); // history
      // Publish from the UI: the raw reply is shown and the SDK client receives it.
      await page.fill('#publish-data', '{"text":"from-ui"}');
      await page.click('#publish');
      await page.waitForFunction(() => /HTTP 200[\s\S]*"result"/.test(document.querySelector('pre.raw')?.textContent || ''));
      await page.locator('#tail tr.pub', { hasText: 'from-ui' }).waitFor({ timeout: 10000 });
      const deadline = Date.now() + 5000;
      while (!received.some((d) => d.text === 'from-ui') && Date.now() < deadline) await page.waitForTimeout(50);
      assert.ok(received.some((d) => d.text === 'from-ui'), 'the SDK subscriber got the UI publication');
      await shot('04-channel');

      // User page: alice's connection; disconnect it, the SDK client sees it.
      await page.goto(`${srv.baseURL}/#/user/alice`);
      await page.locator('#connections tr.conn').first().waitFor();
      assert.match(await page.locator('#connections tr.conn').first().textContent(), /room:lobby/);
      await shot('05-user');
      await page.click('#disconnect-user');
      const d = await log.wait('disconnected', { timeout: 10000 });
      assert.equal(d.code, 3503);
      await page.waitForFunction(() => /HTTP 200/.test(document.querySelector('pre.raw')?.textContent || ''));
      await page.locator('#connections', { hasText: 'no connections' }).waitFor({ timeout: 10000 });
      await shot('06-user-disconnected');

      // Actions page: any command with its raw reply.
      await page.goto(`${srv.baseURL}/#/actions`);
      await page.selectOption('#action-method', 'history_remove');
      await page.fill('#action-params', '{"channel":"room:lobby"}');
      await page.click('#action-send');
      await page.waitForFunction(() => /HTTP 200\n\{\s*"result": \{\}/.test(document.querySelector('#action-reply')?.textContent || ''));
      const hist = await srv.mustApi('history', { channel: 'room:lobby', limit: -1 });
      assert.equal((hist.publications || []).length, 0, 'history_remove from the UI emptied the history');
      await page.selectOption('#action-method', 'broadcast');
      await page.fill('#action-params', '{"channels":["room:a","room:b"],"data":{"x":1}}');
      await page.click('#action-send');
      await page.waitForFunction(() => /"responses"/.test(document.querySelector('#action-reply')?.textContent || ''));
      await shot('07-actions');

      // A 401 from admin/api logs the UI out (here: a token signed with another secret).
      await page.goto(`${srv.baseURL}/#/`);
      await page.locator('tr.node').first().waitFor();
      await page.evaluate(() => localStorage.setItem('rotor-admin-token', 'garbage'));
      await page.locator('#password').waitFor({ timeout: 10000 }); // the next info poll got 401
      assert.equal(await page.evaluate(() => localStorage.getItem('rotor-admin-token')), null);
      await shot('08-logged-out');

      assert.deepEqual(consoleErrors, []);
    } finally {
      for (const c of clients) c.disconnect();
      await browser.close();
    }
  });
});
