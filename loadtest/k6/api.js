// k6 load script for IACE's control API, with the mix of the Go command
// loadtest/apiload (keep the two in step): each VU logs in once, keeps its
// tokens, then browses: call lists following their cursors (30%), call
// details (25%), live calls (5%), agents (8% list, 8% one), customer search
// (7%), analytics (5%), me (5%), patterns (3% list, 2% similar) and token
// refreshes (2%), with an exponential think time between requests.
//
//   k6 run -e IACE_API=http://127.0.0.1:8080 -e EMAIL=load@example.com -e PASSWORD=... \
//          -e VUS=200 -e DURATION=60s loadtest/k6/api.js
//
// Environment: IACE_API, EMAIL, PASSWORD, VUS (default 200), DURATION
// (default 60s), THINK_MS (mean think time, default 250; 0: back to back).
// Seed the data set first: go run ./loadtest/apiload -seed-only (see README).

import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  vus: parseInt(__ENV.VUS || '200', 10),
  duration: __ENV.DURATION || '60s',
  thresholds: {
    http_req_failed: ['rate==0'],
    'http_req_duration{method:GET}': ['p(95)<20'],
  },
};

const BASE = (__ENV.IACE_API || 'http://127.0.0.1:8080').replace(/\/$/, '');
const EMAIL = __ENV.EMAIL || '';
const PASSWORD = __ENV.PASSWORD || '';
const THINK_MS = parseFloat(__ENV.THINK_MS || '250');

const MIX = [
  ['calls.list', 30],
  ['calls.get', 25],
  ['calls.live', 5],
  ['agents.list', 8],
  ['agents.get', 8],
  ['customers.search', 7],
  ['analytics', 5],
  ['me', 5],
  ['patterns.list', 3],
  ['patterns.similar', 2],
  ['auth.refresh', 2],
];
const TOTAL = MIX.reduce((sum, m) => sum + m[1], 0);

const STATUSES = ['', '', '', 'ended', 'active'];
const OUTCOMES = ['', '', '', 'resolved', 'escalated', 'abandoned'];
const CUSTOMER_QUERIES = ['ada', 'hopper', 'grace', 'knuth', '+1555', 'customer1', 'example.com', 'zzz-nobody'];
const SIMILAR = ['what are your opening hours', 'I was charged twice', 'I want to cancel my subscription',
  'can I speak to a human', 'my password reset email never arrived'];

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

function pickOp() {
  let x = Math.random() * TOTAL;
  for (const [name, weight] of MIX) {
    if (x < weight) {
      return name;
    }
    x -= weight;
  }
  return MIX[0][0];
}

function query(params) {
  return Object.keys(params)
    .filter((k) => params[k] !== '')
    .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(params[k]))
    .join('&');
}

// Per-VU state: k6 runs each VU in its own JS runtime.
const state = { access: '', refresh: '', callIds: [], agentIds: [], cursor: '' };

function storeTokens(res) {
  const body = res.json();
  state.access = body.access_token;
  state.refresh = body.refresh_token;
}

function login() {
  const res = http.post(BASE + '/api/v1/auth/login', JSON.stringify({ email: EMAIL, password: PASSWORD }),
    { headers: { 'Content-Type': 'application/json' }, tags: { name: 'POST /api/v1/auth/login' } });
  if (check(res, { 'login 200': (r) => r.status === 200 })) {
    storeTokens(res);
  }
}

function refresh() {
  const res = http.post(BASE + '/api/v1/auth/refresh', JSON.stringify({ refresh_token: state.refresh }),
    { headers: { 'Content-Type': 'application/json' }, tags: { name: 'POST /api/v1/auth/refresh' } });
  if (check(res, { 'refresh 200': (r) => r.status === 200 })) {
    storeTokens(res);
  }
}

function get(path, name) {
  const res = http.get(BASE + path, {
    headers: { Authorization: 'Bearer ' + state.access, Accept: 'application/json' },
    tags: { name: 'GET ' + name },
  });
  check(res, { [name + ' 2xx']: (r) => r.status >= 200 && r.status < 300 });
  if (res.status === 401 && state.refresh) {
    refresh();
  }
  return res;
}

function ids(res) {
  if (res.status !== 200) {
    return [];
  }
  return (res.json('items') || []).map((it) => it.id);
}

function listCalls() {
  const params = { limit: '50', cursor: '', status: '', outcome: '' };
  if (state.cursor && Math.random() < 0.5) {
    params.cursor = state.cursor;
  } else {
    params.status = pick(STATUSES);
    if (!params.status) {
      params.outcome = pick(OUTCOMES);
    }
  }
  const res = get('/api/v1/calls?' + query(params), '/api/v1/calls');
  if (res.status === 200) {
    state.callIds = state.callIds.concat(ids(res)).slice(-50);
    state.cursor = res.json('next_cursor') || '';
  }
}

function listAgents() {
  const res = get('/api/v1/agents', '/api/v1/agents');
  if (res.status === 200) {
    state.agentIds = ids(res);
  }
}

function analytics() {
  const hour = 3600 * 1000;
  const to = new Date(Math.floor(Date.now() / hour) * hour + hour);
  let from = new Date(to.getTime() - 24 * hour);
  let bucket = 'hour';
  if (Math.random() < 1 / 3) {
    from = new Date(to.getTime() - 30 * 24 * hour);
    bucket = 'day';
  }
  const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  get('/api/v1/analytics?' + query({ from: iso(from), to: iso(to), bucket: bucket }), '/api/v1/analytics');
}

export default function () {
  if (!state.access) {
    login();
    if (!state.access) {
      sleep(1);
      return;
    }
  }
  switch (pickOp()) {
    case 'calls.list':
      listCalls();
      break;
    case 'calls.get':
      if (state.callIds.length === 0) {
        listCalls();
      } else {
        get('/api/v1/calls/' + encodeURIComponent(pick(state.callIds)), '/api/v1/calls/{id}');
      }
      break;
    case 'calls.live':
      get('/api/v1/calls/live', '/api/v1/calls/live');
      break;
    case 'agents.list':
      listAgents();
      break;
    case 'agents.get':
      if (state.agentIds.length === 0) {
        listAgents();
      } else {
        get('/api/v1/agents/' + encodeURIComponent(pick(state.agentIds)), '/api/v1/agents/{id}');
      }
      break;
    case 'customers.search':
      get('/api/v1/customers?' + query({ q: pick(CUSTOMER_QUERIES), limit: '20' }), '/api/v1/customers');
      break;
    case 'analytics':
      analytics();
      break;
    case 'me':
      get('/api/v1/me', '/api/v1/me');
      break;
    case 'patterns.list':
      get('/api/v1/patterns?limit=50', '/api/v1/patterns');
      break;
    case 'patterns.similar':
      get('/api/v1/patterns/similar?' + query({ text: pick(SIMILAR), k: '5' }), '/api/v1/patterns/similar');
      break;
    case 'auth.refresh':
      if (state.refresh) {
        refresh();
      } else {
        listCalls();
      }
      break;
  }
  if (THINK_MS > 0) {
    sleep((-Math.log(1 - Math.random()) * THINK_MS) / 1000);
  }
}
