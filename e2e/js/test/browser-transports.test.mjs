// centrifuge-js in headless Chromium: a page served by the test loads the SDK's
// browser bundle and connects over WebSocket, then, with WebSocket blocked in the
// page, falls back to HTTP-streaming and to SSE (with /emulation for its commands).
// In each case it subscribes, receives API publications, publishes, and recovers
// what was published while it was away after a reconnect. A plain EventSource
// receives pushes over uni_sse, and fetch() reads uni_http_stream.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { launch } from '../browser.mjs';
import { defaultConfig, sleep, userToken, withServer } from '../harness.mjs';

// The SDK's browser bundle (not in the package's exports map: read by path).
const bundle = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'centrifuge', 'dist', 'centrifuge.js'));

function config() {
  const cfg = defaultConfig();
  cfg.http_stream = { enabled: true };
  cfg.sse = { enabled: true };
  cfg.uni_sse = { enabled: true };
  cfg.uni_http_stream = { enabled: true };
  cfg.channel.namespaces.push({
    name: 'room', allow_subscribe_for_client: true, allow_publish_for_subscriber: true,
    history_size: 100, history_ttl: '300s', force_recovery: true,
  });
  return cfg;
}

// Serves the test page (another origin than the server: CORS is exercised).
async function pageServer() {
  const srv = createServer((req, res) => {
    if (req.url === '/centrifuge.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(bundle);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><head><script src="/centrifuge.js"></script></head><body><pre id="log"></pre></body></html>');
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}/`, close: () => new Promise((r) => srv.close(r)) };
}

// Replaces WebSocket in the page with one that always fails to connect, as a
// network that blocks upgrades does.
const blockWebSocket = () => {
  window.WebSocket = class {
    constructor() {
      this.readyState = 3;
      setTimeout(() => {
        if (this.onerror) this.onerror(new Event('error'));
        if (this.onclose) this.onclose({ code: 1006, reason: '', wasClean: false });
      }, 10);
    }
    send() {}
    close() {}
  };
};

// Runs in the page: builds the client over the given transports, records events
// in window.ev.
const startClient = ({ base, transports, token, channel }) => {
  const ws = base.replace('http', 'ws');
  const endpoints = {
    websocket: `${ws}/connection/websocket`,
    http_stream: `${base}/connection/http_stream`,
    sse: `${base}/connection/sse`,
  };
  window.ev = { connected: [], subscribed: [], pubs: [], errors: [] };
  const c = new Centrifuge(transports.map((t) => ({ transport: t, endpoint: endpoints[t] })), {
    token, emulationEndpoint: `${base}/emulation`, minReconnectDelay: 100, maxReconnectDelay: 500,
  });
  c.on('connected', (ctx) => window.ev.connected.push(ctx));
  c.on('error', (ctx) => window.ev.errors.push(String(ctx.error && ctx.error.message)));
  const sub = c.newSubscription(channel);
  sub.on('subscribed', (ctx) => window.ev.subscribed.push({ recovered: ctx.recovered, wasRecovering: ctx.wasRecovering }));
  sub.on('publication', (ctx) => window.ev.pubs.push(ctx.data));
  sub.subscribe();
  c.connect();
  window.client = c;
  window.sub = sub;
};

async function waitFor(page, fn, arg, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return v;
    if (Date.now() > deadline) {
      const ev = await page.evaluate(() => JSON.stringify(window.ev));
      throw new Error(`timed out waiting for ${what}; page events: ${ev}`);
    }
    await sleep(20);
  }
}

for (const [name, transports, blocked, want] of [
  ['websocket', ['websocket', 'http_stream', 'sse'], false, 'websocket'],
  ['http_stream fallback', ['websocket', 'http_stream', 'sse'], true, 'http_stream'],
  ['sse fallback', ['websocket', 'sse'], true, 'sse'],
]) test(`centrifuge-js in Chromium: ${name}`, async () => {
  await withServer(config(), async (srv) => {
    const site = await pageServer();
    const { browser, page, shot } = await launch('transports');
    try {
      if (blocked) await page.addInitScript(blockWebSocket);
      await page.goto(site.url);
      const channel = `room:${want}`;
      await page.evaluate(startClient, { base: srv.baseURL, transports, token: userToken('alice'), channel });
      const connected = await waitFor(page, () => window.ev.connected[0], null, 'connected');
      assert.equal(connected.transport, want);
      await waitFor(page, () => window.ev.subscribed.length === 1, null, 'subscribed');

      // API publications reach the page in order.
      for (let i = 0; i < 5; i++) await srv.mustApi('publish', { channel, data: { api: i } });
      await waitFor(page, () => window.ev.pubs.length >= 5, null, '5 API publications');
      // The page publishes (over /emulation when emulated) and receives it back.
      await page.evaluate(() => window.sub.publish({ fromPage: true }));
      await waitFor(page, () => window.ev.pubs.length >= 6, null, 'own publication');

      // Away: what is published meanwhile comes back through recovery.
      await page.evaluate(() => window.client.disconnect());
      for (let i = 5; i < 8; i++) await srv.mustApi('publish', { channel, data: { api: i } });
      await page.evaluate(() => window.client.connect());
      await waitFor(page, () => window.ev.subscribed.length === 2 && window.ev.pubs.length >= 9, null, 'recovery');
      const ev = await page.evaluate(() => window.ev);
      assert.equal(ev.connected[1].transport, want);
      assert.deepEqual(ev.subscribed[1], { recovered: true, wasRecovering: true });
      assert.deepEqual(ev.pubs, [0, 1, 2, 3, 4].map((i) => ({ api: i })).concat([{ fromPage: true }], [5, 6, 7].map((i) => ({ api: i }))));
      await page.evaluate((e) => { document.getElementById('log').textContent = JSON.stringify(e, null, 1); }, ev);
      await shot(want);
    } finally {
      await browser.close();
      await site.close();
    }
  });
});

test('EventSource over uni_sse and fetch over uni_http_stream in Chromium', async () => {
  await withServer(config(), async (srv) => {
    const site = await pageServer();
    const { browser, page } = await launch('transports');
    try {
      await page.goto(site.url);
      await page.evaluate(({ base, token }) => {
        window.sse = [];
        const req = encodeURIComponent(JSON.stringify({ token, subs: { 'room:uni': {} } }));
        const es = new EventSource(`${base}/connection/uni_sse?cf_connect=${req}`);
        es.onmessage = (e) => window.sse.push(JSON.parse(e.data));
        window.stream = [];
        fetch(`${base}/connection/uni_http_stream`, { method: 'POST', body: JSON.stringify({ token, subs: { 'room:uni': {} } }) })
          .then(async (resp) => {
            const reader = resp.body.getReader();
            const dec = new TextDecoder();
            let buf = '';
            for (;;) {
              const { value, done } = await reader.read();
              if (done) return;
              buf += dec.decode(value, { stream: true });
              let i;
              while ((i = buf.indexOf('\n')) >= 0) {
                window.stream.push(JSON.parse(buf.slice(0, i)));
                buf = buf.slice(i + 1);
              }
            }
          });
      }, { base: srv.baseURL, token: userToken('bob') });
      await waitFor(page, () => window.sse.length >= 1 && window.stream.length >= 1, null, 'connect pushes');
      const first = await page.evaluate(() => [window.sse[0], window.stream[0]]);
      for (const f of first) {
        assert.ok(f.connect && f.connect.client && f.connect.session, `connect push: ${JSON.stringify(f)}`);
        assert.ok(f.connect.subs && f.connect.subs['room:uni'], 'subscribed to the requested channel');
      }
      await srv.mustApi('publish', { channel: 'room:uni', data: { n: 1 } });
      await waitFor(page, () => window.sse.length >= 2 && window.stream.length >= 2, null, 'publication pushes');
      const got = await page.evaluate(() => [window.sse[1], window.stream[1]]);
      for (const g of got) {
        assert.equal(g.channel, 'room:uni', JSON.stringify(g));
        assert.deepEqual(g.pub.data, { n: 1 });
        assert.equal(g.pub.offset, 1);
      }
    } finally {
      await browser.close();
      await site.close();
    }
  });
});
