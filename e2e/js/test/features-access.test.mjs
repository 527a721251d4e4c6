// Namespaces, permissions, token info and limits through centrifuge-js.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { sleep, userToken, withServer } from '../harness.mjs';
import {
  assertNoDisconnects, decode, featuresConfig, rejectsWithCode, Scope, subTokenFor, tokenFor,
} from '../features-helpers.mjs';

describe('access control and tokens (centrifuge-js)', { concurrency: true }, () => {
  it('subscribe permissions: client vs anonymous, private channel token, user-limited, channel_regex', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const alice = await s.connect({ token: userToken('alice') });
        for (const [channel, code] of [
          ['users:x', 0], ['anon:x', 0], ['news', 0], ['locked:x', 103], ['nope:x', 102],
          ['$chat:secret', 103], ['dm:#alice,bob', 0], ['dm:#bob,carol', 103],
          ['rx:abc123', 0], ['rx:ABC', 107], ['rx:a-b', 107], ['newsé', 107],
        ]) {
          await s.subscribe(alice.client, channel, code);
        }
        const asked = [];
        const priv = await s.subscribe(alice.client, '$chat:secret2', 0, {
          getToken: async (ctx) => { asked.push(ctx.channel); return subTokenFor('alice', ctx.channel); },
        });
        assert.deepEqual(asked, ['$chat:secret2'], 'getToken calls');
        await srv.mustApi('publish', { channel: '$chat:secret2', data: { priv: 1 } });
        assert.deepEqual((await priv.log.wait('publication')).data, { priv: 1 });
        assertNoDisconnects(alice.log);

        const anon = await s.connect({});
        for (const [channel, code] of [['anon:y', 0], ['users:y', 103], ['news', 103], ['dm:#alice,bob', 103]]) {
          await s.subscribe(anon.client, channel, code);
        }
        assertNoDisconnects(anon.log);

        // A subscription token for another channel: disconnect 3500, no reconnect.
        const bob = await s.connect({ token: userToken('bob') });
        const bad = s.sub(bob.client, '$chat:other', { token: subTokenFor('bob', '$chat:not-this-one') });
        bad.sub.subscribe();
        const d = await bob.log.wait('disconnected');
        assert.equal(d.code, 3500, JSON.stringify(d));
        assert.equal(d.reason, 'invalid token');
      } finally {
        s.close();
      }
    });
  });

  it('client.insecure: anonymous without token may subscribe and publish anywhere', async () => {
    const cfg = featuresConfig();
    cfg.client.allow_anonymous_connect_without_token = false;
    cfg.client.insecure = true;
    await withServer(cfg, async (srv) => {
      const s = new Scope(srv);
      try {
        const c = await s.connect({});
        const sub = await s.subscribe(c.client, 'locked:x');
        await sub.sub.publish({ insecure: true });
        const p = await sub.log.wait('publication');
        assert.deepEqual(p.data, { insecure: true });
        assert.equal(p.info.client, c.ctx.client);
        assert.equal(p.info.user, '');
        await c.client.presence('hist:x');
        await rejectsWithCode(c.client.history('locked:x', { limit: 1 }), 108, 'history without history');
      } finally {
        s.close();
      }
    });
  });

  it('client publish: allow_publish_for_subscriber / _for_client, 103 otherwise; info carried', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const a = await s.connect({ token: tokenFor('alice', 3600, { info: { name: 'Alice' } }) });
        await rejectsWithCode(a.client.publish('chat:room', { n: 0 }), 103, 'publish without subscription');
        await rejectsWithCode(a.client.publish('locked:x', { n: 0 }), 103, 'publish to locked');
        await rejectsWithCode(a.client.publish('nope:x', { n: 0 }), 102, 'publish to unknown namespace');
        await a.client.publish('pubc:x', { n: 1 });
        const sub = await s.subscribe(a.client, 'chat:room');
        await sub.sub.publish({ n: 2 });
        const p = await sub.log.wait('publication');
        assert.deepEqual(p.data, { n: 2 });
        assert.equal(p.info.user, 'alice');
        assert.equal(p.info.client, a.ctx.client);
        assert.deepEqual(p.info.connInfo, { name: 'Alice' });
        const anon = await s.connect({});
        await rejectsWithCode(anon.client.publish('pubc:x', { n: 3 }), 103, 'anonymous publish');
        assertNoDisconnects(a.log);
      } finally {
        s.close();
      }
    });
  });

  it('history/presence permissions: 108 feature off, 103 not allowed, allowed for subscribers', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const a = await s.connect({ token: userToken('alice') });
        const check = async (channel, code) => {
          const calls = [
            ['history', () => a.client.history(channel, { limit: 10 })],
            ['presence', () => a.client.presence(channel)],
            ['presenceStats', () => a.client.presenceStats(channel)],
          ];
          for (const [name, fn] of calls) {
            if (code === 0) await fn();
            else await rejectsWithCode(fn(), code, `${name} ${channel}`);
          }
        };
        await check('nohist:x', 108);
        await check('hist:x', 103);
        await check('histsub:x', 103);
        await check('nope:x', 102);
        const sub = await s.subscribe(a.client, 'histsub:x');
        await check('histsub:x', 0);
        const pr = await sub.sub.presence();
        assert.deepEqual(Object.keys(pr.clients), [a.ctx.client]);
        assert.equal(pr.clients[a.ctx.client].user, 'alice');
        const st = await sub.sub.presenceStats();
        assert.deepEqual(st, { numClients: 1, numUsers: 1 });
        assertNoDisconnects(a.log);
      } finally {
        s.close();
      }
    });
  });

  for (const protocol of ['json', 'protobuf']) it(`connection token info / b64info in presence, join and publications (${protocol})`, async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv, protocol);
      try {
        const aliceInfo = { name: 'Alice', tags: ['a', 1] };
        const bobInfo = { name: 'Bob', b64: true };
        const a = await s.connect({ token: tokenFor('alice', 3600, { info: aliceInfo }) });
        const b = await s.connect({
          token: tokenFor('bob', 3600, { info: { ignored: true }, b64info: Buffer.from(JSON.stringify(bobInfo)).toString('base64') }),
        });
        const as = await s.subscribe(a.client, 'room:info', 0, { joinLeave: true });
        const bs = await s.subscribe(b.client, 'room:info');
        const pr = await as.sub.presence();
        assert.equal(Object.keys(pr.clients).length, 2, JSON.stringify(pr));
        assert.equal(pr.clients[a.ctx.client].user, 'alice');
        assert.deepEqual(decode(pr.clients[a.ctx.client].connInfo), aliceInfo);
        assert.equal(pr.clients[b.ctx.client].user, 'bob');
        assert.deepEqual(decode(pr.clients[b.ctx.client].connInfo), bobInfo);
        const j = await as.log.wait('join', { match: (c) => c.info.user === 'bob' });
        assert.equal(j.info.client, b.ctx.client);
        assert.deepEqual(decode(j.info.connInfo), bobInfo);
        await bs.sub.publish(protocol === 'json' ? { from: 'bob' } : new TextEncoder().encode('{"from":"bob"}'));
        const p = await as.log.wait('publication');
        assert.deepEqual(decode(p.data), { from: 'bob' });
        assert.equal(p.info.client, b.ctx.client);
        assert.deepEqual(decode(p.info.connInfo), bobInfo);
      } finally {
        s.close();
      }
    });
  });

  it('subscription token info, data/b64data and override (presence, join_leave, force_push_join_leave)', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const ch = '$sec:vault';
        const override = {
          presence: { value: true }, join_leave: { value: true }, force_push_join_leave: { value: true },
        };
        const a = await s.connect({ token: userToken('alice') });
        const b = await s.connect({ token: userToken('bob') });
        const as = await s.subscribe(a.client, ch, 0, {
          token: subTokenFor('alice', ch, 3600, { info: { role: 'owner' }, data: { welcome: 'alice' }, override }),
        });
        assert.deepEqual(as.ctx.data, { welcome: 'alice' });
        const bs = await s.subscribe(b.client, ch, 0, {
          token: subTokenFor('bob', ch, 3600, {
            info: { role: 'guest' }, b64data: Buffer.from('{"welcome":"bob"}').toString('base64'), override,
          }),
        });
        assert.deepEqual(bs.ctx.data, { welcome: 'bob' });
        const j = await as.log.wait('join', { match: (c) => c.info.user === 'bob' });
        assert.equal(j.info.client, b.ctx.client);
        assert.deepEqual(j.info.chanInfo, { role: 'guest' });
        await as.sub.publish({ m: 1 });
        const p = await bs.log.wait('publication');
        assert.equal(p.info.user, 'alice');
        assert.deepEqual(p.info.chanInfo, { role: 'owner' }, `publication info ${JSON.stringify(p.info)}`);
        bs.sub.unsubscribe();
        const l = await as.log.wait('leave', { match: (c) => c.info.user === 'bob' });
        assert.equal(l.info.client, b.ctx.client);
      } finally {
        s.close();
      }
    });
  });

  it('limits: user_connection_limit → 3504, channel_limit → 106 / 3505', async () => {
    const cfg = featuresConfig();
    cfg.client.user_connection_limit = 1;
    cfg.client.channel_limit = 2;
    await withServer(cfg, async (srv) => {
      const s = new Scope(srv);
      try {
        const a1 = await s.connect({ token: userToken('alice') });
        const a2 = s.client({ token: userToken('alice') });
        a2.client.connect();
        const d = await a2.log.wait('disconnected');
        assert.equal(d.code, 3504, JSON.stringify(d));
        assert.equal(d.reason, 'connection limit');
        await s.connect({ token: userToken('bob') });

        const s1 = await s.subscribe(a1.client, 'news');
        await s.subscribe(a1.client, 'chat:a');
        const s3 = await s.subscribe(a1.client, 'chat:b', 106);
        assert.equal((await s3.log.wait('unsubscribed')).reason, 'limit exceeded');
        s1.sub.unsubscribe();
        await s.subscribe(a1.client, 'chat:c');
        assertNoDisconnects(a1.log);

        const many = s.client({ token: tokenFor('carol', 3600, { channels: ['news', 'chat:a', 'chat:b'] }) });
        many.client.connect();
        const d2 = await many.log.wait('disconnected');
        assert.equal(d2.code, 3505, JSON.stringify(d2));
        assert.equal(d2.reason, 'channel limit');
        await sleep(300);
        assert.equal(many.log.of('connecting').length, 1, `reconnected after 3505:\n${many.log}`);
      } finally {
        s.close();
      }
    });
  });
});


