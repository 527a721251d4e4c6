// Server-side subscriptions (token channels/subs, API subscribe), API
// unsubscribe/disconnect, several subscriptions at once, token refresh flows,
// through centrifuge-js.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { sleep, userToken, withServer } from '../harness.mjs';
import {
  apiPublish, assertNoDisconnects, decode, featuresConfig, nth, Scope, subTokenFor, tokenFor,
} from '../features-helpers.mjs';

describe('server-side subscriptions, server API, refresh (centrifuge-js)', { concurrency: true }, () => {
  for (const protocol of ['json', 'protobuf']) it(`token channels/subs → server-side subscribed + publication events, recovery (${protocol})`, async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv, protocol);
      try {
        const pre = await apiPublish(srv, 'rec:srv', { n: 1 });
        const a = await s.connect({ token: tokenFor('alice', 3600, { channels: ['news', 'rec:srv'] }) });
        const b = await s.connect({
          token: tokenFor('bob', 3600, { channels: ['news'], subs: { 'locked:bob': { data: { hello: 'bob' } } } }),
        });
        await a.slog.wait('subscribed', { match: (x) => x.channel === 'news' });
        const rs = await a.slog.wait('subscribed', { match: (x) => x.channel === 'rec:srv' });
        assert.equal(rs.recoverable, true, JSON.stringify(rs));
        assert.equal(rs.positioned, true, JSON.stringify(rs));
        assert.deepEqual(rs.streamPosition, { offset: 1, epoch: pre.epoch });
        const bsub = await b.slog.wait('subscribed', { match: (x) => x.channel === 'locked:bob' });
        assert.deepEqual(decode(bsub.data), { hello: 'bob' });
        await sleep(100);
        assert.deepEqual(b.slog.of('subscribed').map((x) => x.channel), ['locked:bob'], 'channels is ignored when subs is set');

        await apiPublish(srv, 'news', { n: 1 });
        await apiPublish(srv, 'locked:bob', { n: 2 });
        const p = await a.slog.wait('publication', { match: (x) => x.channel === 'news' });
        assert.deepEqual(decode(p.data), { n: 1 });
        const q = await b.slog.wait('publication', { match: (x) => x.channel === 'locked:bob' });
        assert.deepEqual(decode(q.data), { n: 2 });

        a.client.disconnect();
        await a.log.wait('disconnected');
        for (let i = 2; i <= 4; i++) await apiPublish(srv, 'rec:srv', { n: i });
        a.client.connect();
        const again = await nth(a.slog, 'subscribed', 2, { match: (x) => x.channel === 'rec:srv' });
        assert.equal(again.wasRecovering, true, JSON.stringify(again));
        assert.equal(again.recovered, true, JSON.stringify(again));
        await nth(a.slog, 'publication', 3, { match: (x) => x.channel === 'rec:srv' });
        const got = a.slog.of('publication').filter((x) => x.channel === 'rec:srv').map((x) => [x.offset, decode(x.data).n]);
        assert.deepEqual(got, [[2, 2], [3, 3], [4, 4]]);
      } finally {
        s.close();
      }
    });
  });

  it('API subscribe → server-side subscribed; API unsubscribe → unsubscribed (server-side) and code 2000 (client-side)', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const a = await s.connect({ token: userToken('alice') });
        const cs = await s.subscribe(a.client, 'chat:client');
        await srv.mustApi('subscribe', { user: 'alice', channel: 'locked:api' });
        await a.slog.wait('subscribed', { match: (x) => x.channel === 'locked:api' });
        await apiPublish(srv, 'locked:api', { n: 7 });
        assert.deepEqual((await a.slog.wait('publication', { match: (x) => x.channel === 'locked:api' })).data, { n: 7 });

        await apiPublish(srv, 'rec:api', { n: 1 });
        await srv.mustApi('subscribe', { user: 'alice', channel: 'rec:api' });
        const rs = await a.slog.wait('subscribed', { match: (x) => x.channel === 'rec:api' });
        assert.equal(rs.recoverable, true, JSON.stringify(rs));
        assert.equal(rs.streamPosition.offset, 1, JSON.stringify(rs));

        await srv.mustApi('unsubscribe', { user: 'alice', channel: 'locked:api' });
        await a.slog.wait('unsubscribed', { match: (x) => x.channel === 'locked:api' });
        await srv.mustApi('unsubscribe', { user: 'alice', channel: 'chat:client' });
        const u = await cs.log.wait('unsubscribed');
        assert.equal(u.code, 2000, JSON.stringify(u));
        assert.equal(u.reason, 'server unsubscribe');
        assert.equal(cs.sub.state, 'unsubscribed');
        await apiPublish(srv, 'locked:api', { n: 8 });
        await apiPublish(srv, 'chat:client', { n: 9 });
        await sleep(200);
        assert.equal(a.slog.of('publication').filter((x) => x.channel === 'locked:api').length, 1, 'delivered after API unsubscribe');
        assert.equal(cs.log.of('publication').length, 0);
        assertNoDisconnects(a.log);
      } finally {
        s.close();
      }
    });
  });

  it('API disconnect: custom reconnect code, custom terminal code, default 3503', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const a = await s.connect({ token: userToken('alice') });
        await srv.mustApi('disconnect', { user: 'alice', disconnect: { code: 4001, reason: 'come back' } });
        const c = await a.log.wait('connecting', { match: (x) => x.code !== 0 });
        assert.equal(c.code, 4001, JSON.stringify(c));
        assert.equal(c.reason, 'come back');
        await nth(a.log, 'connected', 2);
        await srv.mustApi('disconnect', { user: 'alice', disconnect: { code: 4501, reason: 'go away' } });
        const d = await a.log.wait('disconnected');
        assert.equal(d.code, 4501, JSON.stringify(d));
        assert.equal(d.reason, 'go away');

        const b = await s.connect({ token: userToken('bob') });
        await srv.mustApi('disconnect', { user: 'bob' });
        const d2 = await b.log.wait('disconnected');
        assert.equal(d2.code, 3503, JSON.stringify(d2));
        assert.equal(d2.reason, 'force disconnect');
        await sleep(500);
        assert.equal(a.log.of('connecting').length, 2, `reconnected after a terminal code:\n${a.log}`);
        assert.equal(b.log.of('connecting').length, 1, `reconnected after 3503:\n${b.log}`);
      } finally {
        s.close();
      }
    });
  });

  it('several subscriptions at once: batched with connect and with startBatching', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const c = s.client({ token: userToken('alice') });
        const subs = [];
        for (let i = 0; i < 10; i++) {
          const x = s.sub(c.client, `chat:m${i}`);
          x.sub.subscribe();
          subs.push(x);
        }
        c.client.connect();
        await c.log.wait('connected');
        c.client.startBatching();
        for (let i = 10; i < 20; i++) {
          const x = s.sub(c.client, `chat:m${i}`);
          x.sub.subscribe();
          subs.push(x);
        }
        c.client.stopBatching();
        for (const x of subs) await x.log.wait('subscribed');
        for (let i = 0; i < subs.length; i++) await apiPublish(srv, `chat:m${i}`, { n: i });
        for (let i = 0; i < subs.length; i++) {
          const p = await subs[i].log.wait('publication');
          assert.deepEqual(p.data, { n: i });
        }
        await sleep(100);
        for (const x of subs) assert.equal(x.log.of('publication').length, 1);
        assertNoDisconnects(c.log);
      } finally {
        s.close();
      }
    });
  });

  it('connection token refresh: getToken + refresh keeps the connection; no new token → 3005', async () => {
    const cfg = featuresConfig();
    cfg.client.expired_close_delay = '1s';
    // Expiry must be enforced at exp + expired_close_delay, not only when the
    // server pings: pings are made rare here.
    cfg.client.ping_interval = '20s';
    cfg.client.pong_timeout = '8s';
    await withServer(cfg, async (srv) => {
      const s = new Scope(srv);
      try {
        const start = Date.now();
        let calls = 0;
        const a = await s.connect({
          token: tokenFor('alice', 2),
          getToken: async () => { calls++; return tokenFor('alice', 2); },
        });
        let failing = 0;
        const ctl = await s.connect({
          token: tokenFor('carol', 2),
          getToken: async () => { failing++; throw new Error('backend unavailable'); },
        });
        const sub = await s.subscribe(a.client, 'news');
        // exp is at most 2 s after start; + 1 s delay; + 1.5 s slack.
        const c = await ctl.log.wait('connecting', { timeout: start + 4500 - Date.now(), match: (x) => x.code !== 0 });
        assert.ok(Date.now() - start >= 1000, 'control client closed before its token expired');
        assert.equal(c.code, 3005, JSON.stringify(c));
        assert.equal(c.reason, 'connection expired');
        assert.ok(failing >= 1, 'control client never asked for a token');
        await sleep(start + 5500 - Date.now());
        assert.ok(calls >= 2, `getToken called ${calls} times in 5.5 s with 2 s tokens`);
        assertNoDisconnects(a.log);
        assert.equal(a.log.of('connected').length, 1);
        await apiPublish(srv, 'news', { still: 'here' });
        assert.deepEqual((await sub.log.wait('publication')).data, { still: 'here' });
      } finally {
        s.close();
      }
    });
  });

  it('subscription token refresh: getToken + sub_refresh keeps it; no new token → 2501 and resubscribe', async () => {
    const cfg = featuresConfig();
    cfg.client.expired_sub_close_delay = '1s';
    cfg.client.presence_update_interval = '1s';
    // Expired subscriptions are checked on the presence tick, not when pinging.
    cfg.client.ping_interval = '20s';
    cfg.client.pong_timeout = '8s';
    await withServer(cfg, async (srv) => {
      const s = new Scope(srv);
      try {
        const a = await s.connect({ token: userToken('alice') });
        const start = Date.now();
        let calls = 0;
        const good = await s.subscribe(a.client, '$chat:refresh', 0, {
          token: subTokenFor('alice', '$chat:refresh', 2),
          getToken: async (ctx) => { calls++; return subTokenFor('alice', ctx.channel, 2); },
        });
        let failing = 0;
        const bad = await s.subscribe(a.client, '$chat:norefresh', 0, {
          token: subTokenFor('alice', '$chat:norefresh', 2),
          getToken: async (ctx) => {
            failing++;
            if (failing === 1) throw new Error('backend unavailable');
            return subTokenFor('alice', ctx.channel, 3600);
          },
        });
        // exp is at most 2 s after start; + 1 s delay; + 1 s presence tick; + 2 s slack.
        const ev = await bad.log.wait('subscribing', { timeout: start + 6000 - Date.now(), match: (x) => x.code !== 0 });
        assert.equal(ev.code, 2501, JSON.stringify(ev));
        assert.equal(ev.reason, 'subscription expired');
        await nth(bad.log, 'subscribed', 2);
        await sleep(start + 5500 - Date.now());
        assert.ok(calls >= 2, `subscription getToken called ${calls} times`);
        assert.equal(good.log.of('subscribing').length, 1, `refreshed subscription interrupted:\n${good.log}`);
        assert.equal(good.log.of('subscribed').length, 1, `refreshed subscription interrupted:\n${good.log}`);
        await apiPublish(srv, '$chat:refresh', { n: 1 });
        assert.deepEqual((await good.log.wait('publication')).data, { n: 1 });
        assertNoDisconnects(a.log);
      } finally {
        s.close();
      }
    });
  });
});
