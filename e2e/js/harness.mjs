// Shared helper of the JS end-to-end suite: starts the server under test,
// calls its HTTP API, makes HS256 tokens and records SDK events.
//
// The binary comes from ROTOR_BIN (default: ../../bin/rotor relative to this
// file, i.e. the repository's bin/rotor). Each server gets a Centrifugo v6
// style JSON config in a temp dir, a free port on 127.0.0.1, and is stopped
// by PID when the test is done.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Centrifuge } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import WebSocket from 'ws';

export const HMAC_SECRET = 'secret';
export const API_KEY = 'apikey';
export const PING_INTERVAL_MS = 2000;
export const MESSAGE_SIZE_LIMIT = 4096;

const here = dirname(fileURLToPath(import.meta.url));

// TLS mode (tls-run.mjs sets these): every server gets http_server.tls with this
// certificate and key, and its URLs are https:// and wss://. The certificate is
// trusted through NODE_EXTRA_CA_CERTS, which tls-run.mjs sets for this process.
export const TLS = process.env.ROTOR_E2E_TLS_CERT
  ? { cert: process.env.ROTOR_E2E_TLS_CERT, key: process.env.ROTOR_E2E_TLS_KEY }
  : null;

export function binaryPath() {
  if (process.env.ROTOR_BIN) return resolve(process.env.ROTOR_BIN);
  return resolve(here, '..', '..', 'bin', 'rotor');
}

export function defaultConfig() {
  return {
    log: { level: process.env.ROTOR_E2E_LOG_LEVEL || 'info' },
    client: {
      token: { hmac_secret_key: HMAC_SECRET },
      allowed_origins: ['*'],
      ping_interval: '2s',
      pong_timeout: '1s',
    },
    http_api: { key: API_KEY },
    health: { enabled: true },
    // Nothing may leave the machine (Centrifugo sends usage stats otherwise).
    usage_stats: { disabled: true },
    channel: {
      without_namespace: { allow_subscribe_for_client: true },
      namespaces: [
        { name: 'chat', allow_subscribe_for_client: true, allow_publish_for_subscriber: true },
        { name: 'locked' },
      ],
    },
    websocket: { message_size_limit: MESSAGE_SIZE_LIMIT },
  };
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

class Server {
  constructor(bin, cfg, port, dir) {
    this.port = port;
    this.baseURL = `${TLS ? 'https' : 'http'}://127.0.0.1:${port}`;
    this.wsURL = `${TLS ? 'wss' : 'ws'}://127.0.0.1:${port}/connection/websocket`;
    this.output = '';
    this.cfgText = JSON.stringify(cfg, null, 2);
    const cfgPath = join(dir, 'config.json');
    writeFileSync(cfgPath, this.cfgText);
    const env = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('CENTRIFUGO_') && !k.startsWith('ROTOR_')) env[k] = v;
    }
    this.child = spawn(bin, ['--config', cfgPath], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((res) => this.child.on('exit', (code, signal) => res({ code, signal })));
    this.hasExited = false;
    this.exited.then(() => { this.hasExited = true; });
    const collect = (chunk) => {
      this.output += chunk.toString();
      if (this.output.length > 1 << 20) this.output = '…(truncated)…\n' + this.output.slice(-(512 << 10));
    };
    this.child.stdout.on('data', collect);
    this.child.stderr.on('data', collect);
  }

  async waitHealthy(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.hasExited) throw new Error('server exited before becoming healthy');
      try {
        const r = await fetch(`${this.baseURL}/health`, { signal: AbortSignal.timeout(500) });
        await r.arrayBuffer();
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`GET /health did not answer 200 within ${timeoutMs} ms`);
  }

  // Stops the process this helper started, by its PID: SIGTERM, then SIGKILL after 3 s.
  async stop() {
    if (this.hasExited) return;
    try { process.kill(this.child.pid, 'SIGTERM'); } catch { /* already gone */ }
    const t = setTimeout(() => { try { process.kill(this.child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000);
    await this.exited;
    clearTimeout(t);
  }

  // POST /api/<method>. auth: 'x-api-key' (default) or 'authorization'.
  // Returns {status, body, json}.
  async api(method, body, { auth = 'x-api-key' } = {}) {
    const headers = { 'Content-Type': 'application/json' };
    if (auth === 'x-api-key') headers['X-API-Key'] = API_KEY;
    else if (auth === 'authorization') headers.Authorization = `apikey ${API_KEY}`;
    const r = await fetch(`${this.baseURL}/api/${method}`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: r.status, body: text, json };
  }

  // Like api() but throws unless HTTP 200 with a result and no error; returns the result.
  async mustApi(method, body, opts) {
    const r = await this.api(method, body, opts);
    if (r.status !== 200 || !r.json || r.json.error || r.json.result === undefined) {
      throw new Error(`/api/${method}: HTTP ${r.status} ${r.body}`);
    }
    return r.json.result;
  }
}

// Starts a server (defaultConfig() unless cfg is given) and waits for /health.
export async function startServer(cfg = defaultConfig()) {
  const bin = binaryPath();
  if (!existsSync(bin)) throw new Error(`server binary ${bin} not found (set ROTOR_BIN)`);
  let lastErr;
  // A port found free can be taken before the server binds it: retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const c = structuredClone(cfg);
    c.http_server = { ...(c.http_server || {}), port, address: '127.0.0.1' };
    if (TLS && !(c.http_server.tls && 'enabled' in c.http_server.tls)) {
      c.http_server.tls = { enabled: true, cert_pem: TLS.cert, key_pem: TLS.key };
    }
    const dir = mkdtempSync(join(tmpdir(), 'rotor-e2e-js-'));
    const srv = new Server(bin, c, port, dir);
    srv.dir = dir;
    try {
      await srv.waitHealthy(10000);
      return srv;
    } catch (err) {
      lastErr = err;
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
      process.stderr.write(`start attempt on port ${port} failed: ${err.message}\n${srv.output}\n`);
    }
  }
  throw lastErr;
}

// Runs fn(srv) against a fresh server; prints the server's config and output
// when fn throws, and always stops the server.
export async function withServer(cfg, fn) {
  if (typeof cfg === 'function') { fn = cfg; cfg = defaultConfig(); }
  const srv = await startServer(cfg);
  try {
    await fn(srv);
  } catch (err) {
    process.stderr.write(`--- server config:\n${srv.cfgText}\n--- server output:\n${srv.output}\n`);
    throw err;
  } finally {
    await srv.stop();
    rmSync(srv.dir, { recursive: true, force: true });
  }
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// HS256 JWT with the given claims.
export function makeToken(claims, secret = HMAC_SECRET) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export function userToken(sub, ttlSeconds = 3600) {
  return makeToken({ sub, exp: Math.floor(Date.now() / 1000) + ttlSeconds });
}

// Records events of a Centrifuge client or subscription in order.
export class EventLog {
  constructor(emitter, names) {
    this.events = [];
    for (const name of names) emitter.on(name, (ctx) => this.events.push({ name, ctx }));
  }

  of(name) { return this.events.filter((e) => e.name === name).map((e) => e.ctx); }

  toString() {
    return this.events.map((e) => `  ${e.name} ${safeJSON(e.ctx)}`).join('\n');
  }

  // Resolves with the first event `name` whose ctx satisfies match.
  async wait(name, { timeout = 5000, match = () => true } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const hit = this.of(name).find(match);
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`no '${name}' event within ${timeout} ms; events:\n${this}`);
      await sleep(10);
    }
  }
}

function safeJSON(v) {
  try { return JSON.stringify(v); } catch { return String(v); }
}

export const CLIENT_EVENTS = ['state', 'connecting', 'connected', 'disconnected', 'error'];
export const SUB_EVENTS = ['subscribing', 'subscribed', 'unsubscribed', 'error', 'publication'];

// New centrifuge-js client over `ws`, with its event log. Call client.connect().
// protocol: 'json' (default) or 'protobuf' (the SDK's protobuf build, which
// delivers publication data as Uint8Array).
export function newClient(srv, opts = {}, { protocol = 'json' } = {}) {
  const Impl = protocol === 'protobuf' ? CentrifugeProtobuf : Centrifuge;
  const client = new Impl(srv.wsURL, {
    websocket: WebSocket,
    minReconnectDelay: 100,
    maxReconnectDelay: 500,
    ...opts,
  });
  const log = new EventLog(client, CLIENT_EVENTS);
  return { client, log };
}

export function newSub(client, channel, opts = {}) {
  const sub = client.newSubscription(channel, { minResubscribeDelay: 100, maxResubscribeDelay: 500, ...opts });
  const log = new EventLog(sub, SUB_EVENTS);
  return { sub, log };
}
