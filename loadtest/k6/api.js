// k6 load script for IACE's control API: the reads of the Go command
// loadtest/apiload (keep the two in step) plus the writes of a team at
// work. Each VU is one user: it logs in once, keeps its tokens, then
// browses and edits: call lists following their cursors (30%), call
// details (25%), live calls (5%), agents (8% list, 8% one), customer
// search (7%), analytics (5%), me (5%), patterns (3% list, 2% similar),
// token refreshes (2%); and writes: customers added (3%) and edited (2%),
// an agent's configuration saved back (1%). An exponential think time
// separates requests.
//
//   k6 run -e IACE_API=http://127.0.0.1:8080 -e EMAIL=load@example.com -e PASSWORD=... \
//          -e SCENARIO=users_500 loadtest/k6/api.js
//
// Scenarios (the plan's three sizes): SCENARIO=users_100 (default),
// users_500 or users_1000 concurrent users, several comma-separated, or
// all (one after the other); each ramps up over RAMP (default 10 s, 25 s,
// 45 s: a login hashes its password with argon2id, about 25 a second on
// 2 cores) and holds for HOLD (default 60s).
//
// Environment: IACE_API, EMAIL, PASSWORD (an admin: the writes need one),
// THINK_MS (mean think time, default 250; 0: back to back), WRITES (scales
// the writes' weights, default 1; 0 gives apiload's read-only mix).
// Seed the data set first: go run ./loadtest/apiload -seed-only (see README).
// Customers it adds have +1556 numbers; run it on a load database.

import http from 'k6/http';
import { check, sleep } from 'k6';

// SIZES are the plan's concurrent-user counts with their default ramps.
const SIZES = {
  users_100: { users: 100, ramp: '10s' },
  users_500: { users: 500, ramp: '25s' },
  users_1000: { users: 1000, ramp: '45s' },
};

// seconds parses a k6 duration such as "90s", "2m" or "1m30s".
export function seconds(d) {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(String(d));
  if (!m || String(d) === '') {
    throw new Error(`duration ${d}: want e.g. 90s, 2m or 1m30s`);
  }
  return (parseInt(m[1] || '0', 10) * 60 + parseInt(m[2] || '0', 10)) * 60 + parseFloat(m[3] || '0');
}

// scenarios builds k6 scenarios for the sizes named in env.SCENARIO (as
// calls.js does): each ramps up, holds, and finishes before the next.
export function scenarios(env, sizes, gracefulStop) {
  const spec = env.SCENARIO || 'users_100';
  const names = spec === 'all' ? Object.keys(sizes) : spec.split(',').map((s) => s.trim());
  const out = {};
  let start = 0;
  for (const name of names) {
    const size = sizes[name];
    if (!size) {
      throw new Error(`SCENARIO ${name}: want ${Object.keys(sizes).join(', ')}, several of them comma-separated, or all`);
    }
    const ramp = env.RAMP || size.ramp;
    const hold = env.HOLD || '60s';
    out[name] = {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: ramp, target: size.users },
        { duration: hold, target: size.users },
      ],
      gracefulRampDown: gracefulStop,
      gracefulStop: gracefulStop,
      startTime: `${start}s`,
      tags: { users: String(size.users) },
    };
    start += seconds(ramp) + seconds(hold) + seconds(gracefulStop);
  }
  return out;
}

export const options = {
  scenarios: scenarios(__ENV, SIZES, '10s'),
  thresholds: {
    http_req_failed: ['rate==0'],
    // The plan's target for reads on the 2-core machine.
    'http_req_duration{method:GET}': ['p(95)<20'],
    // No target is set for writes; 5x the reads' flags a write path that queues.
    'http_req_duration{kind:write}': ['p(95)<100'],
  },
};

const BASE = (__ENV.IACE_API || 'http://127.0.0.1:8080').replace(/\/$/, '');
const EMAIL = __ENV.EMAIL || '';
const PASSWORD = __ENV.PASSWORD || '';
const THINK_MS = parseFloat(__ENV.THINK_MS || '250');
const WRITES = parseFloat(__ENV.WRITES === undefined ? '1' : __ENV.WRITES);

// MIX is apiload's defaultMix (loadtest/apiload/mix.go) and the writes.
export const MIX = [
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
  ['customers.create', 3 * WRITES],
  ['customers.update', 2 * WRITES],
  ['agents.update', 1 * WRITES],
].filter((m) => m[1] > 0);
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
const state = { access: '', refresh: '', callIds: [], agentIds: [], cursor: '', customers: [] };

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

// write sends a JSON body with method to path, tagged as a write; 2xx and
// the statuses in also are expected.
function write(method, path, name, body, also) {
  const res = http.request(method, BASE + path, JSON.stringify(body), {
    headers: { Authorization: 'Bearer ' + state.access, 'Content-Type': 'application/json', Accept: 'application/json' },
    tags: { name: method + ' ' + name, kind: 'write' },
    responseCallback: http.expectedStatuses({ min: 200, max: 299 }, ...(also || [])),
  });
  check(res, { [method + ' ' + name + ' ' + (also || []).concat(['2xx']).join('/')]: (r) => (r.status >= 200 && r.status < 300) || (also || []).includes(r.status) });
  if (res.status === 401 && state.refresh) {
    refresh();
  }
  return res;
}

// AGENT_FIELDS are what a client writes of an agent (control/api AgentInput).
const AGENT_FIELDS = ['name', 'greeting', 'system_prompt', 'voice', 'language', 'fallback', 'intents',
  'transfer_number', 'settings', 'tools', 'escalation'];

// createCustomer adds a caller with a random +1556 number: a number taken
// already answers 409, which is expected.
function createCustomer() {
  const phone = '+1556' + String(Math.floor(Math.random() * 1e7)).padStart(7, '0');
  const res = write('POST', '/api/v1/customers', '/api/v1/customers', { phone: phone, name: 'k6 caller ' + phone.slice(-4) }, [409]);
  if (res.status === 201) {
    state.customers = state.customers.concat([{ id: res.json('id'), phone: phone }]).slice(-20);
  }
}

// updateCustomer edits a customer this user added.
function updateCustomer() {
  if (state.customers.length === 0) {
    createCustomer();
    return;
  }
  const c = pick(state.customers);
  write('PUT', '/api/v1/customers/' + encodeURIComponent(c.id), '/api/v1/customers/{id}', {
    phone: c.phone,
    name: 'k6 caller ' + c.phone.slice(-4) + ' (edited)',
    memory_summary: 'Asked about opening hours and prices.',
  });
}

// updateAgent saves an agent's configuration back as it was read, as an
// admin pressing save does: the agent caches are invalidated.
function updateAgent() {
  if (state.agentIds.length === 0) {
    listAgents();
    return;
  }
  const id = pick(state.agentIds);
  const res = get('/api/v1/agents/' + encodeURIComponent(id), '/api/v1/agents/{id}');
  if (res.status !== 200) {
    return;
  }
  const agent = res.json();
  const body = {};
  for (const f of AGENT_FIELDS) {
    if (agent[f] !== undefined) {
      body[f] = agent[f];
    }
  }
  write('PUT', '/api/v1/agents/' + encodeURIComponent(id), '/api/v1/agents/{id}', body);
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
    case 'customers.create':
      createCustomer();
      break;
    case 'customers.update':
      updateCustomer();
      break;
    case 'agents.update':
      updateAgent();
      break;
  }
  if (THINK_MS > 0) {
    sleep((-Math.log(1 - Math.random()) * THINK_MS) / 1000);
  }
}
