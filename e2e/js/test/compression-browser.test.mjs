// Chromium negotiates permessage-deflate with the server (websocket.compression on)
// and reads compressed publications intact; over TLS too in the TLS run.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { launch } from '../browser.mjs';
import { defaultConfig, userToken, withServer } from '../harness.mjs';

test('Chromium negotiates permessage-deflate and gets publications intact', async () => {
  const cfg = defaultConfig();
  cfg.websocket = { ...cfg.websocket, compression: true, compression_min_size: 32 };
  await withServer(cfg, async (srv) => {
    const { browser, page } = await launch('compression-browser');
    try {
      await page.goto(`${srv.baseURL}/health`);
      const token = userToken('chrome');
      // Opens a WebSocket from the page, connects and subscribes by hand (the
      // client protocol's JSON), then resolves with the negotiated extensions and
      // the first publication's data once it arrives.
      const opened = page.evaluate(({ url, token }) => new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onerror = () => reject(new Error('websocket error'));
        ws.onopen = () => ws.send(`{"id":1,"connect":{"token":"${token}"}}\n{"id":2,"subscribe":{"channel":"news"}}`);
        let subscribed = false;
        ws.onmessage = (ev) => {
          for (const line of String(ev.data).split('\n')) {
            const m = JSON.parse(line);
            if (m.id === 2) { subscribed = true; window.__subscribed = true; }
            if (subscribed && m.push && m.push.pub) resolve({ extensions: ws.extensions, data: m.push.pub.data });
          }
        };
      }), { url: srv.wsURL, token });
      await page.waitForFunction(() => window.__subscribed === true, null, { timeout: 10000 });
      const data = { text: 'compressible '.repeat(300), n: 42 };
      await srv.mustApi('publish', { channel: 'news', data });
      const got = await opened;
      assert.match(got.extensions, /^permessage-deflate/);
      assert.deepEqual(got.data, data);
    } finally {
      await browser.close();
    }
  });
});
