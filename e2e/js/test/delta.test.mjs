// Delta compression (fossil), publication tags filters, and the client
// commands a plain server cannot serve (send → disconnect 3508, rpc without a
// proxy → error 108), through centrifuge-js (JSON and its protobuf build).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defaultConfig, sleep, userToken, withServer } from '../harness.mjs';
import { decode, nth, rejectsWithCode, Scope, waitFor } from '../features-helpers.mjs';

function dfConfig() {
  const cfg = defaultConfig();
  cfg.client.ping_interval = '10s';
  cfg.client.pong_timeout = '5s';
  cfg.websocket.message_size_limit = 65536;
  const ns = (name, extra = {}) => ({ name, allow_subscribe_for_client: true, ...extra });
  cfg.channel.namespaces = [
    ns('chat', { allow_publish_for_subscriber: true }),
    ns('delta', { allowed_delta_types: ['fossil'], history_size: 100, history_ttl: '300s', force_recovery: true }),
    ns('deltapub', { allowed_delta_types: ['fossil'], delta_publish: true }),
    ns('deltacache', {
      allowed_delta_types: ['fossil'], history_size: 10, history_ttl: '300s',
      force_recovery: true, force_recovery_mode: 'cache', auto_cache_recover: true,
    }),
    ns('nodelta'),
    ns('tagged', { allow_tags_filter: true }),
  ];
  return cfg;
}

// n similar JSON documents (long common text, a few changing fields, non-ASCII
// characters and escapes); the one numbered `reset` is short and unrelated.
function payloads(prefix, from, n, reset = -1) {
  const text = 'the quick brown fox jumps over the lazy dog; '.repeat(8);
  const out = [];
  for (let i = from; i < from + n; i++) {
    if (i === reset) {
      out.push(`{"reset":${i}}`);
      continue;
    }
    out.push(`{"id":"${prefix}-${i}","price":${1000 + i * 7}.25,"text":"${text}",` +
      `"note":"caf\\u00e9 — \\"quoted\\" \\\\ ✓","list":[1,2,3,${i * i}],"flag":${i % 2 === 0}}`);
  }
  return out;
}

async function publish(srv, channel, text, delta) {
  const body = `{"channel":${JSON.stringify(channel)},"data":${text}${delta ? ',"delta":true' : ''}}`;
  return srv.mustApi('publish', body);
}

// The data an SDK publication carries must be the published document: the
// parsed value for JSON, the exact bytes for protobuf.
function assertData(protocol, got, text, what) {
  if (protocol === 'protobuf') {
    assert.ok(got instanceof Uint8Array, `${what}: data ${typeof got}, want bytes`);
    const s = new TextDecoder().decode(got);
    assert.equal(s, text, `${what}: bytes differ`);
  } else {
    assert.deepEqual(got, JSON.parse(text), `${what}: data differs`);
  }
}

// Waits for `from + texts.length` publications on s and checks the last texts.length.
async function expectPubs(protocol, s, from, texts, what) {
  await nth(s.log, 'publication', from + texts.length);
  const pubs = s.log.of('publication');
  texts.forEach((t, i) => assertData(protocol, pubs[from + i].data, t, `${what} #${i + 1}`));
  return pubs;
}

describe('delta, tags filter, send/rpc (centrifuge-js)', { concurrency: true }, () => {
  for (const protocol of ['json', 'protobuf']) it(`fossil delta: exact documents, delta_publish, downgrade, recovery (${protocol})`, async () => {
    await withServer(dfConfig(), async (srv) => {
      const s = new Scope(srv, protocol);
      try {
        const a = await s.connect({ token: userToken('alice') });
        const b = await s.connect({ token: userToken('bob') });
        const sd = await s.subscribe(a.client, 'delta:a', 0, { delta: 'fossil' });
        const sp = await s.subscribe(a.client, 'deltapub:a', 0, { delta: 'fossil' });
        const sn = await s.subscribe(a.client, 'nodelta:a', 0, { delta: 'fossil' });
        const plain = await s.subscribe(b.client, 'delta:a');

        const live = payloads('d', 1, 8, 5);
        for (const p of live) await publish(srv, 'delta:a', p, true);
        await expectPubs(protocol, sd, 0, live, 'delta:a (fossil, API delta:true)');
        await expectPubs(protocol, plain, 0, live, 'delta:a (subscriber without delta)');
        let st = sd.sub.deltaStats();
        assert.equal(st.numPublications, 8, JSON.stringify(st));
        assert.ok(st.numDeltaPayloads >= 5, `delta:a: want most publications as deltas, stats ${JSON.stringify(st)}`);
        assert.ok(st.numFullPayloads >= 2, `delta:a: the first one and the one after the reset are full, stats ${JSON.stringify(st)}`);

        const forced = payloads('p', 1, 6);
        for (const p of forced) await publish(srv, 'deltapub:a', p, false);
        await expectPubs(protocol, sp, 0, forced, 'deltapub:a (namespace delta_publish)');
        // Only the documents are checked here: Centrifugo v6.9.1 sends no
        // deltas for delta_publish namespaces (neither for API nor client
        // publications) although its docs and the spec say it should.
        st = sp.sub.deltaStats();
        assert.equal(st.numPublications, 6, JSON.stringify(st));

        const nod = payloads('n', 1, 4);
        for (const p of nod) await publish(srv, 'nodelta:a', p, true);
        await expectPubs(protocol, sn, 0, nod, 'nodelta:a (delta not allowed)');
        st = sn.sub.deltaStats();
        assert.equal(st.numDeltaPayloads, 0, `nodelta:a: delta must not be negotiated, stats ${JSON.stringify(st)}`);

        // Recovery with delta after a reconnect.
        a.client.disconnect();
        await a.log.wait('disconnected');
        const missed = payloads('r', 20, 5);
        for (const p of missed) await publish(srv, 'delta:a', p, true);
        await expectPubs(protocol, plain, live.length, missed, 'delta:a plain subscriber during the gap');
        a.client.connect();
        const again = await nth(sd.log, 'subscribed', 2);
        assert.equal(again.wasRecovering, true, JSON.stringify(again));
        assert.equal(again.recovered, true, JSON.stringify(again));
        await expectPubs(protocol, sd, live.length, missed, 'delta:a recovered');
        const after = payloads('r', 25, 3);
        for (const p of after) await publish(srv, 'delta:a', p, true);
        await expectPubs(protocol, sd, live.length + missed.length, after, 'delta:a live after recovery');
        await expectPubs(protocol, plain, live.length + missed.length, after, 'delta:a plain after recovery');
        st = sd.sub.deltaStats();
        assert.ok(st.numDeltaPayloads >= 11, `delta:a after recovery: want deltas in the recovered and live publications, stats ${JSON.stringify(st)}`);
        await sleep(100);
        assert.equal(sd.log.of('publication').length, live.length + missed.length + after.length, `extra publications:\n${sd.log}`);
        assert.equal(a.log.of('disconnected').length, 1, `unexpected disconnects:\n${a.log}`);
      } finally {
        s.close();
      }
    });
  });

  for (const protocol of ['json', 'protobuf']) it(`fossil delta with cache recovery mode and auto_cache_recover (${protocol})`, async () => {
    // Centrifugo v6.9.1: auto_cache_recover makes even the first subscribe a
    // recovery that delivers the latest publication; a resubscribe after
    // missed publications gets only the latest one, with the offset the
    // client sent; live deltas continue from whatever the client last got.
    await withServer(dfConfig(), async (srv) => {
      const s = new Scope(srv, protocol);
      try {
        const ch = 'deltacache:a';
        const docs = payloads('c', 1, 10);
        for (const d of docs.slice(0, 3)) await publish(srv, ch, d, true);
        const a = await s.connect({ token: userToken('alice') });
        const sub = await s.subscribe(a.client, ch, 0, { delta: 'fossil' });
        assert.equal(sub.ctx.wasRecovering, true, `first subscribe: ${JSON.stringify(sub.ctx)}`);
        assert.equal(sub.ctx.recovered, true, `first subscribe: ${JSON.stringify(sub.ctx)}`);
        await expectPubs(protocol, sub, 0, [docs[2]], 'latest publication on the first subscribe');
        assert.equal(sub.log.of('publication')[0].offset, 3);

        for (const d of docs.slice(3, 5)) await publish(srv, ch, d, true);
        await expectPubs(protocol, sub, 1, docs.slice(3, 5), 'live after the first subscribe');
        assert.ok(sub.sub.deltaStats().numDeltaPayloads >= 1, `no deltas: ${JSON.stringify(sub.sub.deltaStats())}`);

        a.client.disconnect();
        await a.log.wait('disconnected');
        for (const d of docs.slice(5, 8)) await publish(srv, ch, d, true);
        a.client.connect();
        const again = await nth(sub.log, 'subscribed', 2);
        assert.equal(again.wasRecovering, true, JSON.stringify(again));
        assert.equal(again.recovered, true, JSON.stringify(again));
        assert.equal(again.streamPosition.offset, 5, `resubscribe position (the offset the client sent): ${JSON.stringify(again)}`);
        await expectPubs(protocol, sub, 3, [docs[7]], 'cache recovery: only the latest publication');
        assert.equal(sub.log.of('publication')[3].offset, 8);

        await publish(srv, ch, docs[8], true);
        await expectPubs(protocol, sub, 4, [docs[8]], 'live after the cache recovery');

        a.client.disconnect();
        await a.log.wait('disconnected');
        a.client.connect();
        const third = await nth(sub.log, 'subscribed', 3);
        assert.equal(third.recovered, true, JSON.stringify(third));
        assert.equal(third.hasRecoveredPublications, false, `client already had the latest state: ${JSON.stringify(third)}`);
        await publish(srv, ch, docs[9], true);
        await expectPubs(protocol, sub, 5, [docs[9]], 'live after a resubscribe with nothing missed');
        await sleep(100);
        assert.equal(sub.log.of('publication').length, 6, `publications:\n${sub.log}`);
      } finally {
        s.close();
      }
    });
  });

  for (const protocol of ['json', 'protobuf']) it(`tags filter: only matching publications; 107 without allow_tags_filter (${protocol})`, async () => {
    await withServer(dfConfig(), async (srv) => {
      const s = new Scope(srv, protocol);
      try {
        const a = await s.connect({ token: userToken('alice') });
        const eq = await s.subscribe(a.client, 'tagged:eq', 0, { tagsFilter: { key: 'ticker', cmp: 'eq', val: 'AAPL' } });
        const cx = await s.subscribe(a.client, 'tagged:cx', 0, {
          tagsFilter: {
            op: 'and',
            nodes: [
              { key: 'ticker', cmp: 'in', vals: ['AAPL', 'MSFT'] },
              { key: 'price', cmp: 'gt', val: '100' },
              { op: 'not', nodes: [{ key: 'halted', cmp: 'ex' }] },
            ],
          },
        });
        const all = await s.subscribe(a.client, 'tagged:all');
        const pubs = [
          [{ ticker: 'AAPL', price: '150' }, true, true],
          [{ ticker: 'GOOG', price: '150' }, false, false],
          [{ ticker: 'MSFT', price: '99.5' }, false, false],
          [{ ticker: 'MSFT', price: '101' }, false, true],
          [null, false, false],
          [{ ticker: 'AAPL', price: '150', halted: '1' }, true, false],
          [{ ticker: 'aapl', price: '500' }, false, false],
          [{ ticker: 'AAPL', price: '100' }, true, false],
          [{ ticker: 'AAPL', price: '1000.5' }, true, true],
        ];
        const want = { 'tagged:eq': [], 'tagged:cx': [], 'tagged:all': [] };
        for (const [i, [tags, inEq, inCx]] of pubs.entries()) {
          for (const ch of Object.keys(want)) {
            const body = { channel: ch, data: { i } };
            if (tags) body.tags = tags;
            await srv.mustApi('publish', body);
            if (ch === 'tagged:all' || (ch === 'tagged:eq' && inEq) || (ch === 'tagged:cx' && inCx)) want[ch].push(i);
          }
        }
        for (const [sub, ch] of [[eq, 'tagged:eq'], [cx, 'tagged:cx'], [all, 'tagged:all']]) {
          // A marker matching every filter proves nothing else is queued.
          await srv.mustApi('publish', { channel: ch, data: { i: 'marker' }, tags: { ticker: 'AAPL', price: '200' } });
          await nth(sub.log, 'publication', 1, { match: (p) => decode(p.data).i === 'marker' });
          const got = sub.log.of('publication');
          const ids = got.map((p) => decode(p.data).i);
          assert.deepEqual(ids, [...want[ch], 'marker'], `${ch}: received publications`);
          for (const p of got.slice(0, -1)) {
            const id = decode(p.data).i;
            // Without tags: absent in JSON, an empty map from the protobuf decoder.
            const tags = p.tags && Object.keys(p.tags).length ? p.tags : null;
            assert.deepEqual(tags, pubs[id][0], `${ch}: tags of publication ${id}`);
          }
        }
        await s.subscribe(a.client, 'chat:tf', 107, { tagsFilter: { key: 'ticker', cmp: 'eq', val: 'AAPL' } });
        assert.equal(a.log.of('disconnected').length, 0, `disconnected:\n${a.log}`);
      } finally {
        s.close();
      }
    });
  });

  it('tags filter: every comparison operator, or/not, invalid filters → 107', async () => {
    // Expected matches as Centrifugo v6.9.1 computes them: a missing key
    // matches neq/nin/nex; numbers are plain decimals ("010" is 10, "1e1" and
    // " 7" are not numbers and never compare).
    const tagsets = [
      { t: 'a', n: '5' }, { t: 'b', n: '10' }, { t: 'abcxyz', n: '10.0' }, { t: 'lmnop', n: '-3' }, { n: '100' },
      {}, { t: '', n: 'x' }, { t: 'A', n: '010' }, { t: 'ab', n: ' 7' }, { t: 'c', n: '1e1' }, { t: 'a', n: '5', m: '1' },
    ];
    const cases = {
      neq: [{ key: 't', cmp: 'neq', val: 'a' }, [1, 2, 3, 4, 5, 6, 7, 8, 9]],
      nin: [{ key: 't', cmp: 'nin', vals: ['a', 'b'] }, [2, 3, 4, 5, 6, 7, 8, 9]],
      ex: [{ key: 't', cmp: 'ex' }, [0, 1, 2, 3, 6, 7, 8, 9, 10]],
      nex: [{ key: 't', cmp: 'nex' }, [4, 5]],
      sw: [{ key: 't', cmp: 'sw', val: 'ab' }, [2, 8]],
      ew: [{ key: 't', cmp: 'ew', val: 'yz' }, [2]],
      ct: [{ key: 't', cmp: 'ct', val: 'mn' }, [3]],
      lt: [{ key: 'n', cmp: 'lt', val: '10' }, [0, 3, 10]],
      lte: [{ key: 'n', cmp: 'lte', val: '10' }, [0, 1, 2, 3, 7, 10]],
      gte: [{ key: 'n', cmp: 'gte', val: '10' }, [1, 2, 4, 7]],
      gtneg: [{ key: 'n', cmp: 'gt', val: '-2.5' }, [0, 1, 2, 4, 7, 10]],
      or: [{ op: 'or', nodes: [{ key: 't', cmp: 'eq', val: 'a' }, { key: 'n', cmp: 'gt', val: '50' }] }, [0, 4, 10]],
      notin: [{ op: 'not', nodes: [{ key: 't', cmp: 'in', vals: ['a', 'b', 'c'] }] }, [2, 3, 4, 5, 6, 7, 8]],
    };
    const invalid = {
      badcmp: { key: 't', cmp: 'bogus', val: 'x' },
      badop: { op: 'xor', nodes: [{ key: 't', cmp: 'eq', val: 'x' }] },
      invals: { key: 't', cmp: 'in' },
      not2: { op: 'not', nodes: [{ key: 't', cmp: 'ex' }, { key: 'n', cmp: 'ex' }] },
      andempty: { op: 'and', nodes: [] },
      nokey: { cmp: 'eq', val: 'x' },
      nocmp: { key: 't', val: 'x' },
      eqempty: { key: 't', cmp: 'eq', val: '' },
    };
    await withServer(dfConfig(), async (srv) => {
      const s = new Scope(srv);
      try {
        const a = await s.connect({ token: userToken('alice') });
        const subs = {};
        for (const [name, [f]] of Object.entries(cases)) subs[name] = await s.subscribe(a.client, `tagged:${name}`, 0, { tagsFilter: f });
        for (const [name, f] of Object.entries(invalid)) await s.subscribe(a.client, `tagged:${name}`, 107, { tagsFilter: f });
        for (const name of Object.keys(cases)) {
          for (const [i, tags] of tagsets.entries()) await srv.mustApi('publish', { channel: `tagged:${name}`, data: { i }, tags });
        }
        const matched = (name) => subs[name].log.of('publication').map((p) => p.data.i);
        for (const [name, [f, want]] of Object.entries(cases)) {
          await waitFor(() => matched(name).length >= want.length, { what: `${want.length} publications on tagged:${name}` }).catch(() => {});
          assert.deepEqual(matched(name), want, `filter ${name} ${JSON.stringify(f)}: matched tag sets`);
        }
        // Everything was published before the first check: nothing may follow.
        await sleep(200);
        for (const [name, [, want]] of Object.entries(cases)) assert.deepEqual(matched(name), want, `filter ${name}: late deliveries`);
        assert.equal(a.log.of('disconnected').length, 0, `disconnected:\n${a.log}`);
      } finally {
        s.close();
      }
    });
  });

  for (const protocol of ['json', 'protobuf']) it(`rpc without proxy → 108; send → disconnect 3508 (${protocol})`, async () => {
    await withServer(dfConfig(), async (srv) => {
      const s = new Scope(srv, protocol);
      try {
        const a = await s.connect({ token: userToken('alice') });
        const err = await rejectsWithCode(a.client.rpc('anything', { x: 1 }), 108, 'rpc without proxy');
        assert.equal(err.message, 'not available', JSON.stringify(err));
        assert.equal(a.log.of('disconnected').length, 0, `disconnected after rpc:\n${a.log}`);
        await a.client.send({ hello: 'server' });
        const d = await a.log.wait('disconnected');
        assert.equal(d.code, 3508, JSON.stringify(d));
        assert.equal(d.reason, 'not available', JSON.stringify(d));
        await sleep(1200);
        assert.equal(a.log.of('connecting').length, 1, `reconnected after 3508:\n${a.log}`);
        assert.equal(a.client.state, 'disconnected');
      } finally {
        s.close();
      }
    });
  });
});
