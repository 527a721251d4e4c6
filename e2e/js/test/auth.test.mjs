// Connection token handling as centrifuge-js sees it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { makeToken, newClient, newSub, sleep, userToken, withServer } from '../harness.mjs';

test('a token with a wrong signature: disconnected 3500, no reconnect', async () => {
  await withServer(async (srv) => {
    const bad = makeToken({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 3600 }, 'not-the-secret');
    const { client, log } = newClient(srv, { token: bad });
    try {
      client.connect();
      const d = await log.wait('disconnected');
      assert.equal(d.code, 3500, `disconnected ${JSON.stringify(d)}`);
      assert.equal(d.reason, 'invalid token');
      // Reconnect delays are 100–500 ms: a retry would show as a new connecting event.
      await sleep(1500);
      assert.equal(log.of('connecting').length, 1, `reconnected:\n${log}`);
      assert.equal(log.of('connected').length, 0, `connected with a bad token:\n${log}`);
      assert.equal(client.state, 'disconnected');
    } finally {
      client.disconnect();
    }
  });
});

test('an expired token: connect error 109, getToken is called, then connected', async () => {
  await withServer(async (srv) => {
    const expired = makeToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 60 });
    let calls = 0;
    const { client, log } = newClient(srv, {
      token: expired,
      getToken: async () => { calls++; return userToken('alice'); },
    });
    try {
      client.connect();
      await log.wait('connected');
      const errs = log.of('error').filter((e) => e.type === 'connect');
      assert.ok(errs.length >= 1, `no connect error:\n${log}`);
      assert.equal(errs[0].error.code, 109);
      assert.equal(errs[0].error.message, 'token expired');
      assert.equal(calls, 1, 'getToken calls');
      assert.equal(log.of('disconnected').length, 0, `disconnected:\n${log}`);

      const { sub, log: sublog } = newSub(client, 'news');
      sub.subscribe();
      await sublog.wait('subscribed');
      await srv.mustApi('publish', { channel: 'news', data: { after: 'refresh' } });
      const p = await sublog.wait('publication');
      assert.deepEqual(p.data, { after: 'refresh' });
    } finally {
      client.disconnect();
    }
  });
});
