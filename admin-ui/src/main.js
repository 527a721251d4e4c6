// Rotor admin UI: plain DOM (no framework) and uPlot for the graphs. It talks to the
// admin endpoints next to the page (relative URLs, so admin.handler_prefix works):
// admin/init, admin/auth, admin/api (Centrifugo's legacy API format) and Rotor's
// admin/rotor/{stats,user,live}. The live tail is a plain WebSocket client of the
// server's own client endpoint (Centrifugo JSON protocol), connected with a token
// the admin backend mints: it sees exactly what a subscriber sees, without any
// server-side machinery of its own.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const TOKEN_KEY = 'rotor-admin-token';
const POLL_MS = 1000;
const KEEP_POINTS = 180;

const app = document.getElementById('app');
let token = localStorage.getItem(TOKEN_KEY) || '';
let insecure = false;
let stopView = () => {};

// h builds an element: h('div.cls#id', {attrs}, children...).
function h(tag, attrs, ...children) {
  const [, name, rest] = tag.match(/^([a-z0-9]+)(.*)$/);
  const el = document.createElement(name);
  for (const m of rest.matchAll(/([.#])([\w-]+)/g)) {
    if (m[1] === '.') el.classList.add(m[2]);
    else el.id = m[2];
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (v !== false && v != null) el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// The token is re-read on every request, so logging out in one tab logs out all.
function authHeaders() {
  token = localStorage.getItem(TOKEN_KEY) || '';
  return token ? { Authorization: `token ${token}` } : {};
}

function logout() {
  token = '';
  localStorage.removeItem(TOKEN_KEY);
  showLogin();
}

class Unauthorized extends Error {}

async function post(path, body, type) {
  const headers = authHeaders();
  if (type) headers['Content-Type'] = type;
  const r = await fetch(path, { method: 'POST', headers, body });
  if (r.status === 401) {
    logout();
    throw new Unauthorized('unauthorized');
  }
  const text = await r.text();
  return { status: r.status, text, json: safeJSON(text) };
}

function safeJSON(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

// api runs one server API command through admin/api; returns {status, text, json}.
function api(method, params = {}) {
  return post('admin/api', JSON.stringify({ method, params }), 'application/json');
}

function form(path, fields) {
  return post(path, new URLSearchParams(fields), 'application/x-www-form-urlencoded');
}

async function start() {
  const r = await fetch('admin/init', { headers: authHeaders() });
  const init = await r.json();
  insecure = init.insecure;
  if (init.authenticated) showApp();
  else showLogin();
}

function showLogin(message) {
  stopView();
  stopView = () => {};
  const input = h('input#password', { type: 'password', placeholder: 'Password', autocomplete: 'current-password', autofocus: true });
  const err = h('p.error#login-error', message || '');
  const submit = async (e) => {
    e.preventDefault();
    const fd = new FormData();
    fd.append('password', input.value);
    const r = await fetch('admin/auth', { method: 'POST', body: fd });
    if (r.status !== 200) {
      err.textContent = 'Wrong password';
      return;
    }
    token = (await r.json()).token;
    localStorage.setItem(TOKEN_KEY, token);
    showApp();
  };
  app.replaceChildren(h('form.login#login', { onsubmit: submit },
    h('h1', 'Rotor'), input, h('button#login-submit', { type: 'submit' }, 'Log in'), err));
  input.focus();
}

function showApp() {
  window.onhashchange = route;
  route();
}

function nav() {
  const link = (href, text) => h('a', { href, class: location.hash === href || (href === '#/' && !location.hash) ? 'active' : null }, text);
  const user = h('input#user-search', { placeholder: 'User ID', size: 10 });
  return h('header',
    h('strong.brand', 'Rotor'),
    link('#/', 'Dashboard'), link('#/channels', 'Channels'), link('#/actions', 'Actions'),
    h('form.inline', { onsubmit: (e) => { e.preventDefault(); location.hash = `#/user/${encodeURIComponent(user.value)}`; } },
      user, h('button', { type: 'submit' }, 'User')),
    h('span.spacer'),
    insecure ? h('span.warn', 'insecure mode') : h('a#logout', { href: '#', onclick: (e) => { e.preventDefault(); logout(); } }, 'Log out'));
}

function route() {
  stopView();
  stopView = () => {};
  const hash = location.hash || '#/';
  const main = h('main');
  app.replaceChildren(nav(), main);
  const [, page, arg] = hash.match(/^#\/([^/]*)\/?(.*)$/) || [];
  const param = arg ? decodeURIComponent(arg) : '';
  const views = { '': dashboard, channels, channel, user: userPage, actions };
  const view = views[page] || dashboard;
  stopView = view(main, param) || (() => {});
}

// ---- dashboard ----

function fmtUptime(s) {
  const d = Math.floor(s / 86400), hr = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d ? `${d}d ${hr}h` : hr ? `${hr}h ${m}m` : `${m}m ${s % 60}s`;
}

// sumDotted adds up a node's info metrics items (Centrifugo's flattened snapshot:
// "centrifugo.node.messages_sent_count.type.publication" → increase over the
// interval) of one family; undefined when the node sent none.
function sumDotted(items, family) {
  if (!items) return undefined;
  let sum;
  for (const [k, v] of Object.entries(items)) {
    if (k === family || k.startsWith(`${family}.`)) sum = (sum || 0) + v;
  }
  return sum;
}

function chart(el, title, series) {
  const opts = {
    title, width: Math.max(320, Math.min(560, el.clientWidth || 520)), height: 200,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2 }))],
    axes: [{}, { size: 50 }],
  };
  return new uPlot(opts, [[], ...series.map(() => [])], el);
}

function dashboard(main) {
  const table = h('tbody');
  const charts = h('div.charts');
  main.append(h('h2', 'Nodes'),
    h('table.nodes', h('thead', h('tr', ['Name', 'Version', 'Uptime', 'Clients', 'Users', 'Subscriptions', 'Channels', 'Msgs in/s', 'Msgs out/s'].map((t) => h('th', t)))), table),
    charts);
  const nodes = new Map(); // uid → {data, plots, prev}
  let timer = null, stopped = false;

  async function tick() {
    try {
      const [info, stats] = await Promise.all([api('info'), form('admin/rotor/stats', {})]);
      const list = info.json?.result?.nodes || [];
      const local = stats.json || {};
      const now = Date.now() / 1000;
      table.replaceChildren();
      for (const n of list) {
        let s = nodes.get(n.uid);
        if (!s) {
          const box = h('div.node-charts', { 'data-node': n.name }, h('h3', n.name));
          charts.append(box);
          const c1 = h('div.chart'), c2 = h('div.chart');
          box.append(c1, c2);
          s = {
            data: [[], [], [], [], []], rates: [[], [], []], prev: null,
            counts: chart(c1, 'Connections, users, subscriptions, channels', [['clients', '#2563eb'], ['users', '#16a34a'], ['subs', '#d97706'], ['channels', '#9333ea']]),
            msgs: chart(c2, 'Messages per second', [['in', '#0891b2'], ['out', '#dc2626']]),
          };
          nodes.set(n.uid, s);
        }
        // Rates: this node's from its live counters (admin/rotor/stats, sampled each
        // poll); other nodes' from their info metrics (increases per interval).
        let inRate = 0, outRate = 0, inCount, outCount;
        if (n.uid === local.uid && local.metrics) {
          inCount = local.metrics.centrifugo_node_messages_received_count;
          outCount = local.metrics.centrifugo_transport_messages_sent;
          if (s.prev && now > s.prev.t) {
            const dt = now - s.prev.t;
            if (inCount !== undefined && s.prev.in !== undefined) inRate = Math.max(0, (inCount - s.prev.in) / dt);
            if (outCount !== undefined && s.prev.out !== undefined) outRate = Math.max(0, (outCount - s.prev.out) / dt);
          }
        } else if (n.metrics?.interval > 0) {
          inRate = (sumDotted(n.metrics.items, 'centrifugo.node.messages_received_count') || 0) / n.metrics.interval;
          outRate = (sumDotted(n.metrics.items, 'centrifugo.transport.messages_sent') || 0) / n.metrics.interval;
        }
        s.prev = { t: now, in: inCount, out: outCount };
        const push = (arr, v) => { arr.push(v); if (arr.length > KEEP_POINTS) arr.shift(); };
        [now, n.num_clients, n.num_users, n.num_subs, n.num_channels].forEach((v, i) => push(s.data[i], v || 0));
        [now, inRate, outRate].forEach((v, i) => push(s.rates[i], v));
        s.counts.setData(s.data);
        s.msgs.setData(s.rates);
        const cell = (k, v) => h('td', { 'data-k': k }, v);
        table.append(h('tr.node', { 'data-node': n.name },
          cell('name', n.name), cell('version', n.version), cell('uptime', fmtUptime(n.uptime || 0)),
          cell('num_clients', n.num_clients || 0), cell('num_users', n.num_users || 0), cell('num_subs', n.num_subs || 0),
          cell('num_channels', n.num_channels || 0), cell('in_rate', inRate.toFixed(1)), cell('out_rate', outRate.toFixed(1))));
      }
    } catch (e) {
      if (e instanceof Unauthorized) return;
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  }
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

// ---- channels ----

function channels(main) {
  const search = h('input#channel-search', { placeholder: 'Filter channels', type: 'search' });
  const body = h('tbody');
  const count = h('span.muted');
  let all = {};
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const names = Object.keys(all).filter((c) => c.toLowerCase().includes(q)).sort();
    count.textContent = `${names.length} of ${Object.keys(all).length}`;
    body.replaceChildren(...names.map((c) => h('tr.channel', { 'data-channel': c },
      h('td', h('a', { href: `#/channel/${encodeURIComponent(c)}` }, c)), h('td', all[c].num_clients || 0))));
  };
  search.addEventListener('input', render);
  const load = async () => {
    const r = await api('channels', {});
    all = r.json?.result?.channels || {};
    render();
  };
  main.append(h('h2', 'Channels ', count), h('div.row', search, h('button', { onclick: load }, 'Refresh')),
    h('table', h('thead', h('tr', h('th', 'Channel'), h('th', 'Subscribers'))), body));
  load();
  const t = setInterval(load, 3000);
  return () => clearInterval(t);
}

function rawBox() {
  return h('pre.raw', '');
}

function showRaw(pre, r) {
  pre.textContent = `HTTP ${r.status}\n${r.json ? JSON.stringify(r.json, null, 2) : r.text}`;
}

function dataText(p) {
  if (p.data !== undefined) return typeof p.data === 'string' ? p.data : JSON.stringify(p.data);
  return '';
}

function channel(main, name) {
  const presence = h('tbody'), history = h('tbody'), tail = h('tbody#tail');
  const stats = h('span.muted#presence-stats');
  const status = h('span.muted#tail-status', 'connecting…');
  const raw = rawBox();
  const data = h('textarea#publish-data', { rows: 3 }, '{"text":"hello from admin"}');
  const unsubUser = h('input#unsub-user', { placeholder: 'User ID' });

  const loadPresence = async () => {
    const ps = await api('presence_stats', { channel: name });
    stats.textContent = ps.json?.result ? `${ps.json.result.num_clients} clients, ${ps.json.result.num_users} users` : (ps.json?.error?.message || '');
    const p = await api('presence', { channel: name });
    const pres = p.json?.result?.presence || {};
    presence.replaceChildren(...Object.values(pres).map((c) => h('tr',
      h('td', c.client), h('td', h('a', { href: `#/user/${encodeURIComponent(c.user)}` }, c.user || '(anonymous)'),
        c.user === 'rotor-admin' ? h('span.muted', ' (this live tail)') : null),
      h('td', c.conn_info ? JSON.stringify(c.conn_info) : ''))));
    if (p.json?.error) presence.replaceChildren(h('tr', h('td', { colspan: 3 }, p.json.error.message)));
  };
  const loadHistory = async () => {
    const r = await api('history', { channel: name, limit: 20, reverse: true });
    const pubs = r.json?.result?.publications || [];
    history.replaceChildren(...pubs.map((p) => h('tr', h('td', p.offset ?? ''), h('td.data', dataText(p)))));
    if (r.json?.error) history.replaceChildren(h('tr', h('td', { colspan: 2 }, r.json.error.message)));
  };
  const act = async (method, params) => {
    const r = await api(method, params);
    showRaw(raw, r);
    loadHistory();
    loadPresence();
  };
  const publish = () => {
    let d;
    try { d = JSON.parse(data.value); } catch { raw.textContent = 'data is not valid JSON'; return; }
    act('publish', { channel: name, data: d });
  };

  main.append(h('h2', 'Channel ', h('code#channel-name', name)),
    h('section', h('h3', 'Live tail ', status),
      h('table', h('thead', h('tr', h('th', 'Time'), h('th', 'Offset'), h('th', 'Data'))), tail)),
    h('div.cols',
      h('section', h('h3', 'Presence ', stats), h('table', h('thead', h('tr', h('th', 'Client'), h('th', 'User'), h('th', 'Info'))), presence)),
      h('section', h('h3', 'History ', h('button', { onclick: loadHistory }, 'Reload')),
        h('table', h('thead', h('tr', h('th', 'Offset'), h('th', 'Data'))), history))),
    h('section', h('h3', 'Actions'),
      h('div.row', data, h('button#publish', { onclick: publish }, 'Publish')),
      h('div.row', unsubUser, h('button#unsubscribe', { onclick: () => act('unsubscribe', { channel: name, user: unsubUser.value }) }, 'Unsubscribe user')),
      h('div.row', h('button#history-remove', { onclick: () => act('history_remove', { channel: name }) }, 'Remove history')),
      h('h4', 'Reply'), raw));
  loadPresence();
  loadHistory();
  const stopTail = liveTail(name, tail, status);
  const t = setInterval(loadPresence, 3000);
  return () => { clearInterval(t); stopTail(); };
}

// liveTail subscribes to channel through the client WebSocket endpoint with a
// token from admin/rotor/live (its channels claim makes a server-side
// subscription) and prepends every publication to tbody.
function liveTail(channelName, tbody, status) {
  let ws = null, closed = false, retry = null;
  const connect = async () => {
    let r;
    try {
      r = await form('admin/rotor/live', { channel: channelName });
    } catch { return; }
    if (closed) return;
    if (r.status !== 200) {
      status.textContent = `unavailable: ${r.json?.error || r.text}`;
      return;
    }
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${proto}://${location.hostname}:${r.json.port}/connection/websocket`);
    ws.onopen = () => ws.send(JSON.stringify({ id: 1, connect: { token: r.json.token, name: 'rotor-admin' } }));
    ws.onmessage = (ev) => {
      for (const line of String(ev.data).split('\n')) {
        if (!line) continue;
        const m = safeJSON(line);
        if (!m) continue;
        if (Object.keys(m).length === 0) { ws.send('{}'); continue; } // ping → pong
        if (m.id === 1) {
          status.textContent = m.error ? `error ${m.error.code}: ${m.error.message}` : 'live';
          status.dataset.state = m.error ? 'error' : 'live';
          continue;
        }
        const pub = m.push?.pub;
        if (pub && m.push.channel === channelName) {
          tbody.prepend(h('tr.pub', h('td', new Date().toLocaleTimeString()), h('td', pub.offset ?? ''), h('td.data', dataText(pub))));
          while (tbody.children.length > 200) tbody.lastChild.remove();
        }
      }
    };
    ws.onclose = (ev) => {
      if (closed) return;
      status.textContent = `disconnected (${ev.code} ${ev.reason}), reconnecting…`;
      status.dataset.state = 'closed';
      retry = setTimeout(connect, 2000);
    };
  };
  connect();
  return () => { closed = true; clearTimeout(retry); if (ws) ws.close(); };
}

// ---- user ----

function userPage(main, user) {
  const body = h('tbody#connections');
  const raw = rawBox();
  const nodeName = h('span.muted');
  const unsubChannel = h('input#user-unsub-channel', { placeholder: 'Channel' });
  const load = async () => {
    const r = await form('admin/rotor/user', { user });
    const conns = r.json?.connections || [];
    nodeName.textContent = r.json?.node ? `on node ${r.json.node}` : '';
    body.replaceChildren(...conns.map((c) => h('tr.conn', { 'data-client': c.client },
      h('td', c.client), h('td', c.protocol),
      h('td', c.channels.map((ch) => h('a', { href: `#/channel/${encodeURIComponent(ch)}` }, ch, ' '))),
      h('td', c.info ? JSON.stringify(c.info) : ''),
      h('td', h('button.disconnect-client', { onclick: () => act('disconnect', { user, client: c.client }) }, 'Disconnect')))));
    if (!conns.length) body.replaceChildren(h('tr', h('td', { colspan: 5 }, 'no connections')));
  };
  const act = async (method, params) => {
    showRaw(raw, await api(method, params));
    setTimeout(load, 300);
  };
  main.append(h('h2', 'User ', h('code#user-name', user || '(anonymous)'), ' ', nodeName),
    h('table', h('thead', h('tr', ['Client', 'Protocol', 'Channels', 'Info', ''].map((t) => h('th', t)))), body),
    h('section', h('h3', 'Actions'),
      h('div.row', h('button#disconnect-user', { onclick: () => act('disconnect', { user }) }, 'Disconnect all connections')),
      h('div.row', unsubChannel, h('button#user-unsubscribe', { onclick: () => act('unsubscribe', { user, channel: unsubChannel.value }) }, 'Unsubscribe')),
      h('h4', 'Reply'), raw));
  load();
  const t = setInterval(load, 3000);
  return () => clearInterval(t);
}

// ---- actions ----

const EXAMPLES = {
  publish: { channel: 'news', data: { text: 'hello' } },
  broadcast: { channels: ['news', 'chat:index'], data: { text: 'hello' } },
  disconnect: { user: '42' },
  unsubscribe: { user: '42', channel: 'news' },
  subscribe: { user: '42', channel: 'news' },
  history_remove: { channel: 'news' },
  history: { channel: 'news', limit: 10 },
  presence: { channel: 'news' },
  presence_stats: { channel: 'news' },
  channels: { pattern: '' },
  info: {},
  rpc: { method: 'ping', params: {} },
  refresh: { user: '42', expired: true },
};

function actions(main) {
  const method = h('select#action-method', Object.keys(EXAMPLES).map((m) => h('option', { value: m }, m)));
  const params = h('textarea#action-params', { rows: 8 });
  const raw = rawBox();
  raw.id = 'action-reply';
  const fill = () => { params.value = JSON.stringify(EXAMPLES[method.value], null, 2); };
  method.addEventListener('change', fill);
  fill();
  const send = async () => {
    let p;
    try { p = JSON.parse(params.value); } catch { raw.textContent = 'params are not valid JSON'; return; }
    showRaw(raw, await api(method.value, p));
  };
  main.append(h('h2', 'Actions'), h('p.muted', 'Runs a server API command through admin/api and shows the raw reply.'),
    h('div.row', method, h('button#action-send', { onclick: send }, 'Send')), params, h('h4', 'Reply'), raw);
}

start().catch((e) => { app.textContent = `Failed to start: ${e}`; });
