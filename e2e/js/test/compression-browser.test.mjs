// centrifuge-js in headless Chromium negotiates permessage-deflate with the server
// (websocket.compression on), and publications arrive intact, compressed or not;
// over TLS too in the TLS run. The SDK's browser bundle is injected into the page.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { launch } from '../browser.mjs';
import { defaultConfig, userToken, withServer } from '../harness.mjs';

const bundle = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'centrifuge', 'dist', 'centrifuge.js');

test('centrifuge-js in Chromium negotiates permessage-deflate and gets publications intact', async () => {
  const cfg = defaultConfig();
  cfg.websocket = { ...cfg.websocket, compression: true, compression_min_size: 32 };
  await withServer(cfg, async (srv) => {
    const { browser, page } = await launch('compression-browser');
    try {
      await page.goto(`${srv.baseURL}/health`);
      await page.addScriptTag({ path: bundle });
      await page.evaluate(({ url, token }) => {
        // Record the SDK's WebSocket to read the negotiated extensions.
        const Native = window.WebSocket;
        window.__sockets = [];
        window.WebSocket = class extends Native {
          constructor(...args) { super(...args); window.__sockets.push(this); }
        };
        window.__pubs = [];
        const c = new window.Centrifuge(url, { token });
        const sub = c.newSubscription('news');
        sub.on('publication', (ctx) => window.__pubs.push(ctx.data));
        sub.on('subscribed', () => { window.__subscribed = true; });
        sub.subscribe();
        c.connect();
        window.__client = c;
      }, { url: srv.wsURL, token: userToken('chrome') });
      await page.waitForFunction(() => window.__subscribed === true, null, { timeout: 10000 });
      const ext = await page.evaluate(() => window.__sockets.map((s) => s.extensions));
      assert.equal(ext.length, 1);
      assert.match(ext[0], /^permessage-deflate/);
      const sent = [{ small: 1 }, { text: 'compressible '.repeat(300), n: 42 }, { i: 3, pad: 'x'.repeat(100) }];
      for (const data of sent) await srv.mustApi('publish', { channel: 'news', data });
      await page.waitForFunction((n) => window.__pubs.length >= n, sent.length, { timeout: 10000 });
      assert.deepEqual(await page.evaluate(() => window.__pubs), sent);
      await page.evaluate(() => window.__client.disconnect());
    } finally {
      await browser.close();
    }
  });
});
