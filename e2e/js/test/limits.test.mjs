// Subscribe permission errors and the message size limit, through centrifuge-js.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MESSAGE_SIZE_LIMIT, newClient, newSub, sleep, userToken, withServer } from '../harness.mjs';

test('subscribe errors: unknown namespace 102, not allowed 103', async () => {
  await withServer(async (srv) => {
    const { client, log } = newClient(srv, { token: userToken('alice') });
    try {
      client.connect();
      await log.wait('connected');
      for (const [channel, code, message] of [['nope:x', 102, 'unknown channel'], ['locked:x', 103, 'permission denied']]) {
        const { sub, log: sublog } = newSub(client, channel);
        sub.subscribe();
        // centrifuge-js turns a non-temporary subscribe error into the
        // unsubscribed state carrying the error's code and message.
        const u = await sublog.wait('unsubscribed');
        assert.equal(u.code, code, `${channel}: ${JSON.stringify(u)}`);
        assert.equal(u.reason, message);
        assert.equal(sub.state, 'unsubscribed');
        assert.equal(sublog.of('subscribed').length, 0);
      }
      const { sub, log: oklog } = newSub(client, 'chat:ok');
      sub.subscribe();
      await oklog.wait('subscribed');
      assert.equal(log.of('disconnected').length, 0, `disconnected:\n${log}`);
      assert.equal(log.of('connecting').length, 1, `reconnected:\n${log}`);
    } finally {
      client.disconnect();
    }
  });
});

test('a message above websocket.message_size_limit: close 1009, SDK code 3, no reconnect', async () => {
  await withServer(async (srv) => {
    const { client, log } = newClient(srv, { token: userToken('alice') });
    try {
      const { sub, log: sublog } = newSub(client, 'chat:room');
      sub.subscribe();
      client.connect();
      await sublog.wait('subscribed');
      // Just under the limit is fine.
      await sub.publish({ s: 'a'.repeat(MESSAGE_SIZE_LIMIT - 200) });
      await assert.rejects(sub.publish({ s: 'b'.repeat(MESSAGE_SIZE_LIMIT + 100) }));
      const d = await log.wait('disconnected');
      assert.equal(d.code, 3, `disconnected ${JSON.stringify(d)} (3 = message size limit, from close code 1009)`);
      assert.equal(d.reason, 'message size limit exceeded');
      await sleep(1000);
      assert.equal(log.of('connecting').length, 1, `reconnected:\n${log}`);
    } finally {
      client.disconnect();
    }
  });
});
