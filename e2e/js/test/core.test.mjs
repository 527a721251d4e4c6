// Core flow through centrifuge-js + ws: connect, subscribe, receive HTTP API
// publications in order with the exact data, broadcast, /api/info.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { newClient, newSub, userToken, withServer, sleep } from '../harness.mjs';

const N = 50;

// With the protobuf build, data arrives as the bytes of the JSON text the API got.
const decode = (protocol, data) => (protocol === 'protobuf' ? JSON.parse(new TextDecoder().decode(data)) : data);
const rawText = (protocol, data) => (protocol === 'protobuf' ? new TextDecoder().decode(data) : JSON.stringify(data));

for (const protocol of ['json', 'protobuf']) test(`publications arrive in order with exact data (${protocol})`, async () => {
  await withServer(async (srv) => {
    const { client, log } = newClient(srv, { token: userToken('alice') }, { protocol });
    try {
      const channels = [
        { name: 'news', auth: 'x-api-key' },
        { name: 'chat:room', auth: 'authorization' },
      ];
      for (const ch of channels) {
        const { sub, log: sublog } = newSub(client, ch.name);
        ch.sub = sub;
        ch.log = sublog;
        ch.received = [];
        sub.on('publication', (ctx) => ch.received.push(ctx));
        sub.subscribe();
      }
      client.connect();
      const connected = await log.wait('connected');
      assert.equal(connected.transport, 'websocket');
      assert.ok(connected.client, 'connected ctx has a client id');
      for (const ch of channels) await ch.log.wait('subscribed');

      const sent = new Map(channels.map((c) => [c.name, []]));
      for (let i = 0; i < N; i++) {
        for (const ch of channels) {
          const data = { seq: i, channel: ch.name, text: `message é ${i}`, nested: { a: [1, 2, 3] }, flag: i % 2 === 0 };
          const res = await srv.mustApi('publish', { channel: ch.name, data }, { auth: ch.auth });
          assert.deepEqual(res, {}, 'publish result without history is {}');
          sent.get(ch.name).push(data);
        }
      }
      for (const ch of channels) {
        const deadline = Date.now() + 5000;
        while (ch.received.length < N && Date.now() < deadline) await sleep(10);
        assert.equal(ch.received.length, N, `${ch.name}: received ${ch.received.length} of ${N}`);
        ch.received.forEach((ctx, i) => {
          assert.equal(ctx.channel, ch.name);
          const want = sent.get(ch.name)[i];
          assert.deepEqual(decode(protocol, ctx.data), want, `${ch.name} publication #${i}`);
          if (protocol === 'protobuf') {
            assert.ok(ctx.data instanceof Uint8Array, 'protobuf data is bytes');
            // Byte-exact: the API body carried JSON.stringify(data).
            assert.equal(rawText(protocol, ctx.data), JSON.stringify(want));
          }
        });
      }

      const bdata = { broadcast: true, n: 42 };
      const res = await srv.mustApi('broadcast', { channels: ['news', 'chat:room'], data: bdata });
      assert.equal(res.responses.length, 2);
      for (const r of res.responses) assert.equal(r.error, undefined, JSON.stringify(r));
      for (const ch of channels) {
        const deadline = Date.now() + 5000;
        while (ch.received.length < N + 1 && Date.now() < deadline) await sleep(10);
        assert.equal(ch.received.length, N + 1, `${ch.name}: broadcast not received`);
        assert.deepEqual(decode(protocol, ch.received[N].data), bdata);
      }
      await sleep(200);
      for (const ch of channels) assert.equal(ch.received.length, N + 1, `${ch.name}: extra publications`);
      assert.equal(log.of('disconnected').length, 0, `unexpected disconnects:\n${log}`);
    } finally {
      client.disconnect();
    }
  });
});

test('/api/info reports the connected clients', async () => {
  await withServer(async (srv) => {
    const a = newClient(srv, { token: userToken('alice') });
    const b = newClient(srv, { token: userToken('bob') });
    try {
      a.client.connect();
      b.client.connect();
      await a.log.wait('connected');
      await b.log.wait('connected');
      const deadline = Date.now() + 8000;
      let last;
      for (;;) {
        last = await srv.mustApi('info', {});
        assert.equal(last.nodes.length, 1, JSON.stringify(last));
        const n = last.nodes[0];
        if (n.num_clients === 2 && n.num_users === 2) break;
        if (Date.now() > deadline) assert.fail(`info never reported 2 clients / 2 users: ${JSON.stringify(last)}`);
        await sleep(200);
      }
    } finally {
      a.client.disconnect();
      b.client.disconnect();
    }
  });
});
