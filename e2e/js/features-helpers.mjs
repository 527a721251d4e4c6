// Helpers of the client-protocol feature tests (test/features-*.test.mjs):
// a config with one namespace per feature, token makers, and a scope that
// creates centrifuge-js clients/subscriptions with event logs and disconnects
// them all at the end.

import assert from 'node:assert/strict';

import { defaultConfig, EventLog, makeToken, newClient, newSub, sleep, SUB_EVENTS } from './harness.mjs';

export const now = () => Math.floor(Date.now() / 1000);

export function tokenFor(sub, ttlSeconds = 3600, extra = {}) {
  return makeToken({ sub, exp: now() + ttlSeconds, ...extra });
}

export function subTokenFor(sub, channel, ttlSeconds = 3600, extra = {}) {
  return makeToken({ sub, channel, exp: now() + ttlSeconds, ...extra });
}

const hist = (size, ns) => ({ history_size: size, history_ttl: '300s', ...ns });

// Same namespaces as the Go suite's featuresConfig().
export function featuresConfig() {
  const cfg = defaultConfig();
  cfg.client.allow_anonymous_connect_without_token = true;
  // Ping/pong timing is covered elsewhere; relaxed so that a loaded machine
  // does not turn a late pong (3012) into a feature failure.
  cfg.client.ping_interval = '10s';
  cfg.client.pong_timeout = '5s';
  cfg.channel.namespaces = [
    { name: 'chat', allow_subscribe_for_client: true, allow_publish_for_subscriber: true },
    { name: 'locked' },
    { name: 'anon', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
    { name: 'users', allow_subscribe_for_client: true },
    { name: 'dm', allow_subscribe_for_client: true, allow_user_limited_channels: true },
    { name: 'rx', allow_subscribe_for_client: true, channel_regex: '^[a-z0-9]+$' },
    { name: 'pubc', allow_publish_for_client: true },
    { name: 'nohist', allow_subscribe_for_client: true, allow_history_for_client: true, allow_presence_for_client: true },
    hist(10, { name: 'hist', allow_subscribe_for_client: true, presence: true }),
    hist(10, {
      name: 'histsub', allow_subscribe_for_client: true, presence: true,
      allow_history_for_subscriber: true, allow_presence_for_subscriber: true, allow_positioning: true,
    }),
    {
      name: 'room', allow_subscribe_for_client: true, presence: true, join_leave: true,
      allow_presence_for_subscriber: true, allow_publish_for_subscriber: true,
    },
    { name: 'roomf', allow_subscribe_for_client: true, presence: true, join_leave: true, force_push_join_leave: true },
    { name: 'sec', allow_publish_for_subscriber: true },
    hist(100, { name: 'rec', allow_subscribe_for_client: true, force_recovery: true }),
    hist(2, { name: 'rec2', allow_subscribe_for_client: true, force_recovery: true }),
    hist(10, { name: 'pos', allow_subscribe_for_client: true, force_positioning: true }),
  ];
  return cfg;
}

export const SERVER_SIDE_EVENTS = ['subscribing', 'subscribed', 'unsubscribed', 'publication', 'join', 'leave'];

// With the protobuf build, payloads arrive as bytes of JSON text.
export function decode(data) {
  if (data instanceof Uint8Array) return JSON.parse(new TextDecoder().decode(data));
  return data;
}

export async function waitFor(pred, { timeout = 5000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(10);
  }
}

// Resolves with the n-th (1-based) event `name` matching match.
export async function nth(log, name, n, { timeout = 5000, match = () => true } = {}) {
  await waitFor(() => log.of(name).filter(match).length >= n, { timeout, what: `${n} '${name}' events; events:\n${log}` })
    .catch((e) => { throw new Error(`${e.message}\n${log}`); });
  return log.of(name).filter(match)[n - 1];
}

// Asserts that promise rejects with a server error of code.
export async function rejectsWithCode(promise, code, what) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: resolved, want error ${code}`);
  assert.equal(err.code, code, `${what}: error ${JSON.stringify(err)}, want code ${code}`);
  return err;
}

export class Scope {
  constructor(srv, protocol = 'json') {
    this.srv = srv;
    this.protocol = protocol;
    this.clients = [];
  }

  // New client (not connected) with log and server-side event log.
  client(opts = {}) {
    const { client, log } = newClient(this.srv, opts, { protocol: this.protocol });
    const slog = new EventLog(client, SERVER_SIDE_EVENTS);
    this.clients.push(client);
    return { client, log, slog };
  }

  // New client, connected.
  async connect(opts = {}) {
    const c = this.client(opts);
    c.client.connect();
    c.ctx = await c.log.wait('connected');
    return c;
  }

  // New subscription with an event log also recording join/leave.
  sub(client, channel, opts = {}) {
    const { sub } = newSub(client, channel, opts);
    const log = new EventLog(sub, [...SUB_EVENTS, 'join', 'leave']);
    return { sub, log };
  }

  // Subscribes; code 0 = must succeed, else must end unsubscribed with code.
  async subscribe(client, channel, code = 0, opts = {}) {
    const s = this.sub(client, channel, opts);
    s.sub.subscribe();
    if (code === 0) {
      s.ctx = await waitFor(() => s.log.of('subscribed')[0] || (s.log.of('unsubscribed')[0] && 'unsub'), { what: `${channel} subscribed` });
      assert.notEqual(s.ctx, 'unsub', `${channel}: want subscribed, events:\n${s.log}`);
    } else {
      const u = await s.log.wait('unsubscribed');
      assert.equal(u.code, code, `${channel}: unsubscribed ${JSON.stringify(u)}, want code ${code}; events:\n${s.log}`);
      assert.equal(s.log.of('subscribed').length, 0, `${channel}: subscribed although ${code} expected`);
    }
    return s;
  }

  close() {
    for (const c of this.clients) {
      try { c.disconnect(); } catch { /* ignore */ }
    }
  }
}

// Asserts the client stayed connected: a single connecting event, no disconnect.
export function assertNoDisconnects(log) {
  assert.equal(log.of('disconnected').length, 0, `disconnected:\n${log}`);
  assert.equal(log.of('connecting').length, 1, `reconnected:\n${log}`);
}

export async function apiPublish(srv, channel, data) {
  return srv.mustApi('publish', { channel, data });
}
