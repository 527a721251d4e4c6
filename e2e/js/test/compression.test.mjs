// permessage-deflate through centrifuge-js over `ws` (which offers it by
// default, as browsers do): negotiated when websocket.compression is on,
// publications arrive intact above and below compression_min_size, and the
// client's own (compressed) publish works; declined when compression is off.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import WebSocket from 'ws';

import { defaultConfig, newClient, newSub, userToken, withServer } from '../harness.mjs';

// A ws WebSocket that remembers its instances, to read the negotiated extensions.
function recordingWebSocket() {
  const sockets = [];
  class Recording extends WebSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  }
  return { Recording, sockets };
}

for (const protocol of ['json', 'protobuf']) test(`compression negotiated and messages intact (${protocol})`, async () => {
  const cfg = defaultConfig();
  cfg.websocket = { ...cfg.websocket, compression: true, compression_min_size: 64, compression_level: 1 };
  await withServer(cfg, async (srv) => {
    const { Recording, sockets } = recordingWebSocket();
    const { client, log } = newClient(srv, { token: userToken('zed'), websocket: Recording }, { protocol });
    try {
      const { sub, log: sublog } = newSub(client, 'chat:z');
      const got = [];
      sub.on('publication', (ctx) => got.push(ctx.data));
      sub.subscribe();
      client.connect();
      await log.wait('connected');
      await sublog.wait('subscribed');
      assert.equal(sockets.length, 1);
      assert.match(sockets[0].extensions, /^permessage-deflate/, 'permessage-deflate negotiated');

      const payloads = [{ small: 1 }, { text: 'all work and no play '.repeat(200) }];
      for (let i = 0; i < 20; i++) payloads.push({ i, pad: 'x'.repeat(i * 23) });
      for (const p of payloads) await srv.mustApi('publish', { channel: 'chat:z', data: p });
      const own = { from: 'client', text: 'ping pong '.repeat(100) };
      await sub.publish(protocol === 'protobuf' ? new TextEncoder().encode(JSON.stringify(own)) : own);
      payloads.push(own);
      await sublog.wait('publication', { match: () => got.length === payloads.length });
      const decoded = got.map((d) => (protocol === 'protobuf' ? JSON.parse(new TextDecoder().decode(d)) : d));
      assert.deepEqual(decoded, payloads);
    } finally {
      client.disconnect();
    }
  });
});

test('compression off: the offer is declined and messages arrive', async () => {
  await withServer(async (srv) => {
    const { Recording, sockets } = recordingWebSocket();
    const { client, log } = newClient(srv, { token: userToken('zed'), websocket: Recording });
    try {
      const { sub, log: sublog } = newSub(client, 'news');
      sub.subscribe();
      client.connect();
      await log.wait('connected');
      await sublog.wait('subscribed');
      assert.equal(sockets[0].extensions, '');
      const data = { text: 'z'.repeat(2000) };
      await srv.mustApi('publish', { channel: 'news', data });
      const pub = await sublog.wait('publication');
      assert.deepEqual(pub.data, data);
    } finally {
      client.disconnect();
    }
  });
});
