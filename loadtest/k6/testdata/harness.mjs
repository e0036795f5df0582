// harness runs a k6 script under node for loadtest/k6/k6_test.go, with the
// k6 modules replaced by the stubs in k6stub/ (the test rewrites the
// script's imports) and a virtual clock, and prints what happened as JSON.
//
//   node harness.mjs <mode> <script.mjs> <script dir> <env JSON>
//
// Modes: call (one call against a fake media server), units (the pure
// helpers of calls.js), api (iterations of api.js against a fake API).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [mode, script, scriptDir, envJSON] = process.argv.slice(2);
const realNow = Date.now();
const { rt, run, schedule } = await import('./k6stub/runtime.mjs');
rt.now = realNow;

// A seeded Math.random (mulberry32): every run draws the same numbers.
let seed = 0x1ace;
Math.random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

globalThis.__ENV = JSON.parse(envJSON || '{}');
globalThis.__VU = 1;
globalThis.__ITER = 0;
// open(path, 'b') as k6's: relative to the script, binary as an ArrayBuffer.
globalThis.open = (p, m) => {
  const data = fs.readFileSync(path.resolve(scriptDir, p));
  return m === 'b' ? new Uint8Array(data).buffer : data.toString('utf8');
};

let loads = 0;
// load imports a fresh instance of the script with env as __ENV.
async function load(env) {
  globalThis.__ENV = env;
  loads++;
  return import(pathToFileURL(script).href + '?load=' + loads);
}

const out = {};

if (mode === 'call') {
  // The fake media server: it greets, answers each line 260 ms after the
  // third silent frame in a row that follows the caller's speech (a clip
  // has single silent frames between words), and clears its audio once a
  // caller has spoken 30 frames (600 ms) over it.
  const SILENCE = Buffer.alloc(160, 0xff).toString('base64');
  const log = { sent: [], delivered: [], url: '', params: null, closedAt: 0 };
  let playEnd = 0;
  let run0 = null; // the caller's current run of speech
  let quiet = 0; // silent frames in a row
  let replies = 0;
  const deliver = (ws, obj) => {
    log.delivered.push({ t: rt.now, m: obj });
    ws.deliver(JSON.stringify(obj));
  };
  const speak = (ws, ms, mark) => {
    const chunk = Buffer.alloc((8 * ms) / 5, 0xff).toString('base64');
    for (let i = 0; i < 5; i++) {
      deliver(ws, { event: 'media', stream_id: 'S', media: { payload: chunk } });
    }
    playEnd = Math.max(playEnd, rt.now) + ms;
    deliver(ws, { event: 'mark', stream_id: 'S', mark: { name: mark } });
  };
  rt.server = {
    connect(ws) {
      log.url = ws.url;
      log.params = ws.params;
      schedule(() => ws.opened(), 1);
    },
    receive(ws, data) {
      const m = JSON.parse(data);
      log.sent.push({ t: rt.now, m: m });
      if (m.event === 'start') {
        schedule(() => speak(ws, 1000, 'greeting'), 100);
      } else if (m.event === 'media') {
        const voiced = m.media.payload !== SILENCE;
        if (voiced) {
          quiet = 0;
          if (run0 === null) {
            run0 = { frames: 0, over: playEnd > rt.now, cleared: false };
          }
        }
        if (run0 !== null) {
          run0.frames++; // every frame since the speech began
          if (run0.over && !run0.cleared && run0.frames === 30 && playEnd > rt.now) {
            run0.cleared = true;
            playEnd = rt.now;
            deliver(ws, { event: 'clear', stream_id: 'S' });
          }
          if (!voiced && ++quiet === 3) {
            run0 = null;
            const n = ++replies;
            schedule(() => speak(ws, 2000, 'reply-' + n), 260);
          }
        }
      }
    },
    closed() {
      log.closedAt = rt.now;
    },
  };
  const mod = await load(globalThis.__ENV);
  const call = mod.placeCall(1);
  run(rt.now + 5 * 60 * 1000);
  out.log = log;
  out.error = call.error;
  out.steps = call.steps;
  out.timersLeft = rt.timers.length;
} else if (mode === 'units') {
  const mod = await load(globalThis.__ENV);
  const codes = new Uint8Array(65536);
  for (let i = 0; i < 65536; i++) {
    codes[i] = mod.ulaw((i << 16) >> 16); // i as the int16 of the same bits
  }
  out.ulaw = Buffer.from(codes).toString('base64');
  out.slugs = ['What are your opening hours?', "  I'd like -- 2 tickets!  "].map(mod.slug);
  out.seconds = ['90s', '2m', '1m30s', '1h'].map(mod.seconds);
  const env = globalThis.__ENV;
  out.token = mod.mintToken(env.IACE_STREAM_SECRET, { callId: 'call-1', orgId: 'org-1', agentId: 'agent-1', callControlId: 'v3:cc-1', nonce: 'nonce-1' }, Date.now() / 1000, 60);
  out.url = mod.streamURL('ws://h/media/telnyx', env.IACE_STREAM_SECRET, 'v3:cc-2', Date.now());
  out.urlWithoutSecret = mod.streamURL('ws://h/media/telnyx', '', 'v3:cc-2', Date.now());
  out.scenarios = {};
  for (const spec of ['users_100', 'all', 'users_1000,users_500']) {
    out.scenarios[spec] = (await load({ SCENARIO: spec, HOLD: '30s' })).options.scenarios;
  }
  try {
    await load({ SCENARIO: 'users_7' });
    out.badScenario = '';
  } catch (e) {
    out.badScenario = String(e.message);
  }
  let draws = 0;
  const rnd = () => [0.1, 0.99, 0.5][draws++ % 3]; // barge in, before line 3, 300 + 100 ms in
  out.plan = mod.planCall(['a', 'b', 'c'], 0.2, rnd).map((s) => [s.text, s.bargeIn, s.delay]);
  out.planWithout = mod.planCall(['a', 'b', 'c'], 0, Math.random).length;
} else if (mode === 'api') {
  let ids = 0;
  const agent = {
    id: 'agent-1', name: 'Front desk', greeting: 'Hello', fallback: 'Sorry?', language: 'en-US', voice: 'en-us',
    intents: [{ name: 'hours', examples: ['when are you open'], response: 'Nine to five.' }],
    settings: { barge_in: true }, tools: ['end_call'], escalation: { keywords: ['human'] },
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
  };
  rt.http = (req) => {
    const u = new URL(req.url);
    const p = u.pathname;
    if (req.method === 'POST' && p === '/api/v1/auth/login') {
      return { status: 200, body: { access_token: 'access-1', refresh_token: 'refresh-1' } };
    }
    if (req.method === 'POST' && p === '/api/v1/auth/refresh') {
      return { status: 200, body: { access_token: 'access-2', refresh_token: 'refresh-2' } };
    }
    if (req.method === 'POST' && p === '/api/v1/customers') {
      return { status: 201, body: Object.assign({ id: 'cust-' + ++ids }, req.body) };
    }
    if (req.method === 'PUT') {
      return { status: 200, body: req.body };
    }
    if (p === '/api/v1/calls') {
      return { status: 200, body: { items: [{ id: 'call-1' }, { id: 'call-2' }], next_cursor: 'cursor-1' } };
    }
    if (p === '/api/v1/agents') {
      return { status: 200, body: { items: [{ id: 'agent-1' }] } };
    }
    if (p.startsWith('/api/v1/agents/')) {
      return { status: 200, body: agent };
    }
    return { status: 200, body: { items: [] } };
  };
  const mod = await load(globalThis.__ENV);
  const n = parseInt(globalThis.__ENV.ITERATIONS || '3000', 10);
  for (let i = 0; i < n; i++) {
    globalThis.__ITER = i;
    mod.default();
  }
  out.requests = rt.requests.map((r) => ({
    method: r.method, url: r.url, body: r.body, tags: r.params.tags || {}, headers: r.params.headers || {},
    expected: r.params.responseCallback ? r.params.responseCallback.expected : null,
  }));
  out.mix = mod.MIX;
  out.agent = agent;
  out.scenarios = {};
  for (const spec of ['users_100', 'users_500', 'users_1000']) {
    out.scenarios[spec] = (await load({ SCENARIO: spec })).options.scenarios;
  }
}
out.metrics = rt.metrics;
out.checks = rt.checks;
process.stdout.write(JSON.stringify(out));
