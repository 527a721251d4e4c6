// Presence, join/leave, history, positioning and recovery through centrifuge-js.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { sleep, userToken, withServer } from '../harness.mjs';
import { apiPublish, assertNoDisconnects, decode, featuresConfig, nth, rejectsWithCode, Scope } from '../features-helpers.mjs';

const range = (from, to) => {
  const out = [];
  if (from <= to) for (let i = from; i <= to; i++) out.push(i);
  else for (let i = from; i >= to; i--) out.push(i);
  return out;
};

// Offsets of publications, checking each carries {n: offset}.
const offsetsOf = (pubs) => pubs.map((p) => {
  assert.equal(decode(p.data).n, p.offset, `publication at offset ${p.offset}: ${JSON.stringify(decode(p.data))}`);
  return p.offset;
});

describe('presence, history and recovery (centrifuge-js)', { concurrency: true }, () => {
  it('presence, presenceStats, join/leave with joinLeave and force_push_join_leave', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const a = await s.connect({ token: userToken('alice') });
        const c = await s.connect({ token: userToken('carol') });
        const b = await s.connect({ token: userToken('bob') });
        const as = await s.subscribe(a.client, 'room:a', 0, { joinLeave: true });
        const cs = await s.subscribe(c.client, 'room:a');
        const af = await s.subscribe(a.client, 'roomf:a');
        const self = await as.log.wait('join', { match: (x) => x.info.user === 'alice' });
        assert.equal(self.info.client, a.ctx.client);

        const bs = await s.subscribe(b.client, 'room:a');
        await s.subscribe(b.client, 'roomf:a');
        const j = await as.log.wait('join', { match: (x) => x.info.user === 'bob' });
        assert.equal(j.channel, 'room:a');
        assert.equal(j.info.client, b.ctx.client);
        await af.log.wait('join', { match: (x) => x.info.client === b.ctx.client });

        const pr = await as.sub.presence();
        assert.deepEqual(Object.keys(pr.clients).sort(), [a.ctx.client, b.ctx.client, c.ctx.client].sort());
        for (const [id, user] of [[a.ctx.client, 'alice'], [b.ctx.client, 'bob'], [c.ctx.client, 'carol']]) {
          assert.equal(pr.clients[id].user, user);
          assert.equal(pr.clients[id].client, id);
        }
        assert.deepEqual(await as.sub.presenceStats(), { numClients: 3, numUsers: 3 });

        bs.sub.unsubscribe();
        const l = await as.log.wait('leave', { match: (x) => x.info.user === 'bob' });
        assert.equal(l.info.client, b.ctx.client);
        b.client.disconnect();
        await af.log.wait('leave', { match: (x) => x.info.client === b.ctx.client });
        const deadline = Date.now() + 5000;
        for (;;) {
          const st = await cs.sub.presenceStats();
          if (st.numClients === 2 && st.numUsers === 2) break;
          assert.ok(Date.now() < deadline, `presence stats after bob left: ${JSON.stringify(st)}`);
          await sleep(50);
        }
        await sleep(200);
        assert.equal(cs.log.of('join').length + cs.log.of('leave').length, 0, `carol got join/leave without asking:\n${cs.log}`);
        assert.equal(as.log.of('leave').length, 1, `alice leave events:\n${as.log}`);
      } finally {
        s.close();
      }
    });
  });

  for (const protocol of ['json', 'protobuf']) it(`history: limit, since, reverse, epoch, trimming, 112 (${protocol})`, async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv, protocol);
      try {
        const ch = 'histsub:h';
        let epoch;
        for (let i = 1; i <= 5; i++) {
          const r = await apiPublish(srv, ch, { n: i });
          assert.equal(r.offset, i, JSON.stringify(r));
          assert.match(r.epoch, /^[a-zA-Z]{8}$/);
          epoch ??= r.epoch;
          assert.equal(r.epoch, epoch);
        }
        const a = await s.connect({ token: userToken('alice') });
        const sub = (await s.subscribe(a.client, ch)).sub;
        const check = async (what, opts, want) => {
          const r = await sub.history(opts);
          assert.deepEqual(offsetsOf(r.publications), want, `history ${what}`);
          assert.equal(r.epoch, epoch, `history ${what} epoch`);
          return r;
        };
        const top = await check('limit 0', {}, []);
        assert.equal(top.offset, 5);
        await check('limit -1', { limit: -1 }, range(1, 5));
        await check('limit 2', { limit: 2 }, [1, 2]);
        await check('since 2', { limit: 10, since: { offset: 2, epoch } }, [3, 4, 5]);
        await check('since top', { limit: 10, since: { offset: 5, epoch } }, []);
        await check('reverse limit 2', { limit: 2, reverse: true }, [5, 4]);
        await check('reverse since 4', { limit: 10, reverse: true, since: { offset: 4, epoch } }, [3, 2, 1]);
        await rejectsWithCode(sub.history({ limit: 10, since: { offset: 2, epoch: 'wrongepo' } }), 112, 'history since a wrong epoch');
        for (let i = 6; i <= 17; i++) await apiPublish(srv, ch, { n: i });
        const r = await check('after trimming (history_size 10)', { limit: -1 }, range(8, 17));
        assert.equal(r.offset, 17);
        await check('since a trimmed offset', { limit: 3, since: { offset: 3, epoch } }, [8, 9, 10]);
        assertNoDisconnects(a.log);
      } finally {
        s.close();
      }
    });
  });

  it('positioning: force_positioning and the positioned option', async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const p1 = await apiPublish(srv, 'pos:p', { n: 1 });
        await apiPublish(srv, 'pos:p', { n: 2 });
        const h1 = await apiPublish(srv, 'histsub:p', { n: 1 });
        const a = await s.connect({ token: userToken('alice') });
        const forced = await s.subscribe(a.client, 'pos:p');
        const asked = await s.subscribe(a.client, 'histsub:p', 0, { positioned: true });
        const plain = await s.subscribe(a.client, 'hist:p');
        for (const [x, pos] of [[forced, { offset: 2, epoch: p1.epoch }], [asked, { offset: 1, epoch: h1.epoch }]]) {
          assert.equal(x.ctx.positioned, true, JSON.stringify(x.ctx));
          assert.equal(x.ctx.recoverable, false, JSON.stringify(x.ctx));
          assert.deepEqual(x.ctx.streamPosition, pos, JSON.stringify(x.ctx));
        }
        assert.equal(plain.ctx.positioned, false, JSON.stringify(plain.ctx));
        assert.equal(plain.ctx.streamPosition, undefined, JSON.stringify(plain.ctx));
        await apiPublish(srv, 'pos:p', { n: 3 });
        assert.equal((await forced.log.wait('publication')).offset, 3);
      } finally {
        s.close();
      }
    });
  });

  for (const protocol of ['json', 'protobuf']) it(`recovery after disconnect: missed publications in order, wasRecovering/recovered (${protocol})`, async () => {
    await withServer(featuresConfig(), async (srv) => {
      const s = new Scope(srv, protocol);
      try {
        const first = await apiPublish(srv, 'rec:r', { n: 1 });
        await apiPublish(srv, 'rec:r', { n: 2 });
        await apiPublish(srv, 'rec2:r', { n: 1 });
        const a = await s.connect({ token: userToken('alice') });
        const r = await s.subscribe(a.client, 'rec:r');
        const r2 = await s.subscribe(a.client, 'rec2:r');
        assert.equal(r.ctx.recoverable, true, JSON.stringify(r.ctx));
        assert.equal(r.ctx.positioned, true);
        assert.equal(r.ctx.wasRecovering, false);
        assert.deepEqual(r.ctx.streamPosition, { offset: 2, epoch: first.epoch });
        await apiPublish(srv, 'rec:r', { n: 3 });
        assert.equal((await r.log.wait('publication')).offset, 3);

        a.client.disconnect();
        await a.log.wait('disconnected');
        for (let i = 4; i <= 8; i++) await apiPublish(srv, 'rec:r', { n: i });
        for (let i = 2; i <= 5; i++) await apiPublish(srv, 'rec2:r', { n: i });
        a.client.connect();
        const again = await nth(r.log, 'subscribed', 2);
        assert.equal(again.wasRecovering, true, JSON.stringify(again));
        assert.equal(again.recovered, true, JSON.stringify(again));
        assert.equal(again.hasRecoveredPublications, true, JSON.stringify(again));
        assert.equal(again.streamPosition.epoch, first.epoch);
        await nth(r.log, 'publication', 6);
        assert.deepEqual(offsetsOf(r.log.of('publication')), range(3, 8));
        await apiPublish(srv, 'rec:r', { n: 9 });
        assert.equal((await nth(r.log, 'publication', 7)).offset, 9);

        const again2 = await nth(r2.log, 'subscribed', 2);
        assert.equal(again2.wasRecovering, true, JSON.stringify(again2));
        assert.equal(again2.recovered, false, JSON.stringify(again2));
        assert.equal(again2.streamPosition.offset, 5, JSON.stringify(again2));
        await sleep(200);
        assert.equal(r2.log.of('publication').length, 0, `rec2 got publications:\n${r2.log}`);
      } finally {
        s.close();
      }
    });
  });
});
