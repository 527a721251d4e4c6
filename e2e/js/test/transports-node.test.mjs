// centrifuge-js in Node over the HTTP transports: http_stream (JSON and, with the
// SDK's protobuf build, Protobuf) and SSE through the `eventsource` package, each
// with /emulation for the client's commands: subscribe, API publications, publish,
// recovery after a reconnect.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Centrifuge } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import { EventSource } from 'eventsource';

import { defaultConfig, EventLog, CLIENT_EVENTS, SUB_EVENTS, userToken, withServer } from '../harness.mjs';

function config() {
  const cfg = defaultConfig();
  cfg.http_stream = { enabled: true };
  cfg.sse = { enabled: true };
  cfg.channel.namespaces.push({
    name: 'room', allow_subscribe_for_client: true, allow_publish_for_subscriber: true,
    history_size: 100, history_ttl: '300s', force_recovery: true,
  });
  return cfg;
}

const decode = (protocol, data) => (protocol === 'protobuf' ? JSON.parse(new TextDecoder().decode(data)) : data);
const encode = (protocol, v) => (protocol === 'protobuf' ? new TextEncoder().encode(JSON.stringify(v)) : v);

for (const [transport, protocol] of [['http_stream', 'json'], ['http_stream', 'protobuf'], ['sse', 'json']]) {
  test(`centrifuge-js in Node over ${transport} (${protocol})`, async () => {
    await withServer(config(), async (srv) => {
      const Impl = protocol === 'protobuf' ? CentrifugeProtobuf : Centrifuge;
      const client = new Impl([{ transport, endpoint: `${srv.baseURL}/connection/${transport}` }], {
        token: userToken('nora'),
        emulationEndpoint: `${srv.baseURL}/emulation`,
        eventsource: EventSource,
        fetch,
        readableStream: ReadableStream,
        minReconnectDelay: 100,
        maxReconnectDelay: 500,
      });
      const log = new EventLog(client, CLIENT_EVENTS);
      const channel = `room:${transport}-${protocol}`;
      const sub = client.newSubscription(channel);
      const slog = new EventLog(sub, SUB_EVENTS);
      const pubs = [];
      sub.on('publication', (ctx) => pubs.push(decode(protocol, ctx.data)));
      try {
        sub.subscribe();
        client.connect();
        const connected = await log.wait('connected');
        assert.equal(connected.transport, transport);
        await slog.wait('subscribed');
        for (let i = 0; i < 3; i++) await srv.mustApi('publish', { channel, data: { api: i } });
        await sub.publish(encode(protocol, { fromClient: true }));
        const deadline = Date.now() + 5000;
        while (pubs.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(pubs, [{ api: 0 }, { api: 1 }, { api: 2 }, { fromClient: true }]);

        client.disconnect();
        for (let i = 3; i < 5; i++) await srv.mustApi('publish', { channel, data: { api: i } });
        client.connect();
        const again = await slog.wait('subscribed', { match: (ctx) => ctx.wasRecovering });
        assert.equal(again.recovered, true);
        while (pubs.length < 6 && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(pubs.slice(4), [{ api: 3 }, { api: 4 }]);
      } finally {
        client.disconnect();
      }
    });
  });
}
