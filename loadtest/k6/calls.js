// k6 load script for IACE: each VU places Telnyx-style media-stream calls
// over k6's WebSocket module (the frames of docs/protocols/telnyx.md,
// sections 1 and 2), one after the other, speaking recorded speech as
// loadtest/callsim does.
//
// A call opens /media/telnyx (with a stream token in the URL when
// IACE_STREAM_SECRET is set), sends connected and start (custom_parameters
// sim_script: the call's lines, which the server's simulator transcriber
// returns as the transcripts), then one 20 ms PCMU media frame every 20 ms
// on a drift-free schedule: silence, or while speaking the line's recorded
// speech (loadtest/callsim/audio, generated with espeak-ng and sox by its
// gen.sh). It waits for the greeting, speaks each line once the agent has
// finished (a mark at the end of its audio, or 800 ms of silence) and a
// ~400 ms pause, and takes the reply latency from the last voiced frame of
// the line, as callsim does. It plays the server's audio into a virtual
// playout queue, echoes each mark when the audio before it has played, and
// honours clear. A BARGEIN fraction of the calls speaks "sorry can you say
// that again a bit more slowly please" 300-500 ms into one reply that is
// not the last, and counts the time from its first frame to the clear.
// After the last reply it sends stop and closes.
//
//   k6 run -e IACE_URL=ws://127.0.0.1:8080/media/telnyx -e SCENARIO=users_500 loadtest/k6/calls.js
//
// Scenarios (the plan's three sizes): SCENARIO=users_100 (default),
// users_500 or users_1000 concurrent calls, several comma-separated, or
// all (one after the other); each ramps up over RAMP (default 10 s, 15 s,
// 30 s) and holds for HOLD (default 60s).
//
// Environment: IACE_URL; SCRIPT (lines joined with "|", default
// "what are your opening hours|how much does it cost|goodbye"); BARGEIN
// (fraction of calls, default 0.2); AUDIO_DIR (where <slug>.wav clips
// are looked up, relative to this file; default ../callsim/audio: a line
// without a clip gets a synthetic speech-like signal, as in callsim);
// CALL_SECONDS (a call gives up after this, default 120); GREETING_TIMEOUT
// and REPLY_TIMEOUT (seconds, default 10 each).
// Stream tokens: IACE_STREAM_SECRET (the server's, at least 32 bytes) makes
// each call carry ?token=, minted as media/telnyx/token.go does for
// TOKEN_ORG and TOKEN_AGENT (default demo/demo), call id "k6-" plus the
// call_control_id, valid TOKEN_TTL seconds (120). AUTH_TOKEN is sent as
// x-telnyx-streaming-auth-token, as callsim's -auth-token.

import { WebSocket } from 'k6/websockets';
import { setInterval, clearInterval } from 'k6/timers';
import { check } from 'k6';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { SharedArray } from 'k6/data';
import { Counter, Rate, Trend } from 'k6/metrics';

// ---- the plan's scenarios ----

// SIZES are the plan's concurrent-call counts with their default ramps.
const SIZES = {
  users_100: { users: 100, ramp: '10s' },
  users_500: { users: 500, ramp: '15s' },
  users_1000: { users: 1000, ramp: '30s' },
};

// seconds parses a k6 duration such as "90s", "2m" or "1m30s".
export function seconds(d) {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(String(d));
  if (!m || String(d) === '') {
    throw new Error(`duration ${d}: want e.g. 90s, 2m or 1m30s`);
  }
  return (parseInt(m[1] || '0', 10) * 60 + parseInt(m[2] || '0', 10)) * 60 + parseFloat(m[3] || '0');
}

// scenarios builds k6 scenarios for the sizes named in env.SCENARIO: each
// ramps up, holds, and lets its calls finish (gracefulStop) before the
// next one starts.
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

const CALL_SECONDS = parseFloat(__ENV.CALL_SECONDS || '120');

export const options = {
  scenarios: scenarios(__ENV, SIZES, `${Math.ceil(CALL_SECONDS) + 10}s`),
  thresholds: {
    checks: ['rate>0.99'],
    iace_greeting_ms: ['p(95)<2000'],
    iace_reply_ms: ['p(95)<1500'],
    iace_bargein_ms: ['p(95)<1500'],
  },
};

// ---- configuration ----

const URL = __ENV.IACE_URL || 'ws://127.0.0.1:8080/media/telnyx';
const DEFAULT_SCRIPT = 'what are your opening hours|how much does it cost|goodbye';
const SCRIPT = (__ENV.SCRIPT || DEFAULT_SCRIPT).split('|').map((s) => s.trim()).filter((s) => s !== '');
const BARGEIN_TEXT = 'sorry can you say that again a bit more slowly please';
const BARGEIN = parseFloat(__ENV.BARGEIN === undefined ? '0.2' : __ENV.BARGEIN);
const AUDIO_DIR = __ENV.AUDIO_DIR || '../callsim/audio';
const GREETING_TIMEOUT_MS = parseFloat(__ENV.GREETING_TIMEOUT || '10') * 1000;
const REPLY_TIMEOUT_MS = parseFloat(__ENV.REPLY_TIMEOUT || '10') * 1000;
const STREAM_SECRET = __ENV.IACE_STREAM_SECRET || '';
const TOKEN_ORG = __ENV.TOKEN_ORG || 'demo';
const TOKEN_AGENT = __ENV.TOKEN_AGENT || 'demo';
const TOKEN_TTL = parseFloat(__ENV.TOKEN_TTL || '120');
const AUTH_TOKEN = __ENV.AUTH_TOKEN || '';

if (SCRIPT.length === 0) {
  throw new Error('SCRIPT has no line');
}
if (STREAM_SECRET !== '' && STREAM_SECRET.length < 32) {
  // media/telnyx MinSecretLen: the server refuses a shorter secret.
  throw new Error('IACE_STREAM_SECRET must be at least 32 bytes');
}

// The caller's timing, as callsim's defaults.
const FRAME_MS = 20;
const FRAME_BYTES = 160; // 20 ms of 8 kHz PCMU, one byte a sample
const QUIET_MS = 800; // the agent has finished after this much silence
const PAUSE_MS = 400; // the caller's thinking time, jittered by +-25 %
const BARGEIN_TIMEOUT_MS = 1500; // talked over this long without a clear: failed
const MAX_BEHIND = 10; // frames a late tick catches up; beyond, it skips

// ---- audio: G.711 mu-law, WAV, the caller's clips ----

// ulaw encodes one 16-bit sample as G.711 mu-law (ITU-T G.711), exactly as
// media.EncodeULawTo does: the 14-bit reference encoder with bias 33.
export function ulaw(sample) {
  let s = sample;
  const sign = (~s >> 8) & 0x80;
  if (sign === 0) {
    s = ~s;
  }
  s = (s >> 2) + 33;
  if (s > 0x1fff) {
    s = 0x1fff;
  }
  const seg = 32 - Math.clz32(s >> 5);
  return sign | ((8 - seg) << 4) | (0x0f - ((s >> seg) & 0x0f));
}

// slug is the file name (without .wav) a line's clip has: its lowercase
// letters and digits, runs of anything else turned into one "_" (gen.sh's
// and callsim's rule).
export function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}

// readWAV returns the samples of an 8 kHz 16-bit PCM WAV (stereo is
// averaged to mono, as media.ReadWAV does).
export function readWAV(buf, name) {
  const v = new DataView(buf);
  const tag = (at) => String.fromCharCode(v.getUint8(at), v.getUint8(at + 1), v.getUint8(at + 2), v.getUint8(at + 3));
  if (v.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    throw new Error(`${name}: not a RIFF/WAVE file`);
  }
  let fmt = null;
  for (let at = 12; at + 8 <= v.byteLength;) {
    const id = tag(at);
    const size = v.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      fmt = { format: v.getUint16(body, true), channels: v.getUint16(body + 2, true), rate: v.getUint32(body + 4, true), bits: v.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!fmt || (fmt.format !== 1 && fmt.format !== 0xfffe) || fmt.bits !== 16 || fmt.channels < 1 || fmt.channels > 2) {
        throw new Error(`${name}: want 16-bit PCM, mono or stereo`);
      }
      if (fmt.rate !== 8000) {
        throw new Error(`${name}: ${fmt.rate} Hz; want 8000 (sox in.wav -r 8000 -c 1 -b 16 out.wav)`);
      }
      const n = Math.floor(Math.min(size, v.byteLength - body) / (2 * fmt.channels));
      const pcm = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        if (fmt.channels === 1) {
          pcm[i] = v.getInt16(body + 2 * i, true);
        } else {
          pcm[i] = (v.getInt16(body + 4 * i, true) + v.getInt16(body + 4 * i + 2, true)) >> 1;
        }
      }
      return pcm;
    }
    at = body + size + (size & 1); // chunks are padded to an even size
  }
  throw new Error(`${name}: no data chunk`);
}

// trimSilence drops leading and trailing 20 ms frames quieter than 1/20
// of the loudest frame (and than 100), so that a clip's last frame is the
// caller's last voiced frame (callsim's rule).
export function trimSilence(pcm) {
  const n = Math.floor(pcm.length / FRAME_BYTES);
  if (n === 0) {
    return pcm;
  }
  const rms = new Array(n);
  let peak = 0;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = i * FRAME_BYTES; j < (i + 1) * FRAME_BYTES; j++) {
      sum += pcm[j] * pcm[j];
    }
    rms[i] = Math.sqrt(sum / FRAME_BYTES);
    peak = Math.max(peak, rms[i]);
  }
  const threshold = Math.max(peak / 20, 100);
  let first = 0;
  let last = n - 1;
  while (first < n && rms[first] < threshold) {
    first++;
  }
  while (last > first && rms[last] < threshold) {
    last--;
  }
  if (first > last) {
    return pcm;
  }
  return pcm.subarray(first * FRAME_BYTES, (last + 1) * FRAME_BYTES);
}

// synthSpeech is callsim's stand-in for a line without a clip: a 120 Hz
// buzz with four harmonics, one 0.3 s syllable per word with 60 ms gaps,
// at about -12 dBFS, so that the server's VAD hears speech of a plausible
// length that starts and stops (a steady tone would become its noise floor).
export function synthSpeech(text) {
  const words = Math.max(text.split(/\s+/).filter((w) => w !== '').length, 1);
  const word = 0.3;
  const gap = 0.06;
  const total = Math.floor(words * (word + gap) * 8000) - Math.floor(gap * 8000);
  const pcm = new Int16Array(total);
  for (let i = 0; i < total; i++) {
    const t = i / 8000;
    const pos = t % (word + gap);
    if (pos > word) {
      continue;
    }
    const env = Math.sin((Math.PI * pos) / word);
    let v = 0;
    for (let h = 1; h <= 4; h++) {
      v += Math.sin(2 * Math.PI * 120 * h * t) / h;
    }
    pcm[i] = Math.trunc((8000 * env * v) / 2);
  }
  return pcm;
}

// encodeFrames splits pcm into 20 ms PCMU frames, the last one padded with
// silence (0xFF), each as base64 for a media message's payload.
export function encodeFrames(pcm) {
  const frames = [];
  for (let i = 0; i < pcm.length; i += FRAME_BYTES) {
    const raw = new Uint8Array(FRAME_BYTES).fill(0xff);
    for (let j = 0; j < FRAME_BYTES && i + j < pcm.length; j++) {
      raw[j] = ulaw(pcm[i + j]);
    }
    frames.push(encoding.b64encode(raw.buffer, 'std'));
  }
  return frames;
}

// buildLibrary makes the frames of every text: from AUDIO_DIR/<slug>.wav,
// else synthetic. It runs in the init context (open() is only there).
function buildLibrary(texts) {
  const frames = [];
  const clips = [];
  for (const text of texts) {
    const path = `${AUDIO_DIR}/${slug(text)}.wav`;
    let data = null;
    try {
      data = open(path, 'b');
    } catch (e) {
      data = null; // no clip for this line
    }
    const pcm = data ? trimSilence(readWAV(data, path)) : synthSpeech(text);
    const f = encodeFrames(pcm);
    clips.push({ text: text, start: frames.length, count: f.length, source: data ? 'file' : 'synthetic' });
    for (const p of f) {
      frames.push(p);
    }
  }
  return { frames: frames, clips: clips };
}

const TEXTS = SCRIPT.concat(BARGEIN > 0 && SCRIPT.length >= 2 && !SCRIPT.includes(BARGEIN_TEXT) ? [BARGEIN_TEXT] : []);
// Built once for all VUs; a VU reads one frame at a time.
const FRAMES = new SharedArray('iace caller frames', () => buildLibrary(TEXTS).frames);
const CLIP_LIST = new SharedArray('iace caller clips', () => buildLibrary(TEXTS).clips);
const CLIPS = {};
for (let i = 0; i < CLIP_LIST.length; i++) {
  const c = CLIP_LIST[i];
  CLIPS[c.text] = c;
}

// One 20 ms frame of mu-law digital silence.
const SILENCE = encoding.b64encode(new Uint8Array(FRAME_BYTES).fill(0xff).buffer, 'std');

// ---- stream tokens ----

// mintToken returns a stream token as media/telnyx.Mint makes it:
// v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, "iace stream token v1|" + claims part))>.
export function mintToken(secret, claims, nowSeconds, ttlSeconds) {
  const body = JSON.stringify({
    c: claims.callId,
    o: claims.orgId,
    a: claims.agentId,
    cc: claims.callControlId,
    n: claims.nonce,
    e: Math.floor(nowSeconds + ttlSeconds),
  });
  const payload = encoding.b64encode(body, 'rawurl');
  return 'v1.' + payload + '.' + crypto.hmac('sha256', secret, 'iace stream token v1|' + payload, 'base64rawurl');
}

// streamURL is the URL a call connects to: IACE_URL, plus its token.
export function streamURL(base, secret, callControlId, nowMs) {
  if (secret === '') {
    return base;
  }
  const tok = mintToken(secret, {
    callId: 'k6-' + callControlId.replace(/^v3:/, ''),
    orgId: TOKEN_ORG,
    agentId: TOKEN_AGENT,
    callControlId: callControlId,
    nonce: encoding.b64encode(crypto.randomBytes(16), 'rawurl'),
  }, nowMs / 1000, TOKEN_TTL);
  return base + (base.includes('?') ? '&' : '?') + 'token=' + tok;
}

// ---- metrics ----

const greetingMs = new Trend('iace_greeting_ms', true);
const replyMs = new Trend('iace_reply_ms', true);
const bargeInMs = new Trend('iace_bargein_ms', true);
const linesAnswered = new Rate('iace_lines_answered');
const bargeInsCleared = new Rate('iace_bargeins_cleared');
const callsCompleted = new Rate('iace_calls_completed');
const callErrors = new Counter('iace_call_errors');
const mediaMessages = new Counter('iace_media_messages');
const clears = new Counter('iace_clears');
const lateFrames = new Counter('iace_k6_skipped_frames');

// ---- one call ----

function uuid(upper) {
  const h = '0123456789abcdef';
  let s = '';
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      s += '-';
    } else if (i === 14) {
      s += '4';
    } else if (i === 19) {
      s += h[8 + Math.floor(Math.random() * 4)];
    } else {
      s += h[Math.floor(Math.random() * 16)];
    }
  }
  return upper ? s.toUpperCase() : s;
}

// decodedBytes is the length of a base64 payload once decoded.
function decodedBytes(b64) {
  let pad = 0;
  if (b64.endsWith('==')) {
    pad = 2;
  } else if (b64.endsWith('=')) {
    pad = 1;
  }
  return (b64.length / 4) * 3 - pad;
}

// planCall draws a call's lines: the script, and for a BARGEIN fraction of
// calls the barge-in line inserted before line k >= 1 (it interrupts the
// reply to line k-1, never the last reply, after which the server may hang
// up), spoken 300-500 ms into that reply.
export function planCall(script, bargeIn, random) {
  const steps = script.map((text) => ({ text: text, bargeIn: false, delay: 0 }));
  if (script.length >= 2 && random() < bargeIn) {
    const k = 1 + Math.floor(random() * (script.length - 1));
    steps.splice(k, 0, { text: BARGEIN_TEXT, bargeIn: true, delay: 300 + Math.floor(random() * 201) });
  }
  return steps.map((s) => Object.assign(s, { spoken: false, answered: false, cleared: false, missed: false }));
}

// Call is one phone leg's state machine. tick and the on* handlers take
// the time (ms) as an argument; send and close reach the socket.
export class Call {
  constructor(steps, startMs, send, close) {
    this.steps = steps;
    this.send = send;
    this.closeSocket = close;
    this.t0 = startMs;
    this.phase = 'greeting';
    this.phaseAt = startMs;
    this.turn = -1;
    this.frame = 0;
    this.speechStart = 0;
    this.speechEnd = 0;
    this.pauseUntil = 0;
    this.playEnd = 0; // when the queued agent audio has played
    this.marks = []; // {name, due}
    this.talking = false;
    this.talkStart = 0;
    this.tailMark = false;
    this.bargeChecked = false;
    this.greeted = false;
    this.done = false;
    this.error = '';
    this.seq = 1;
    this.chunk = 0;
    this.sent = 0; // frames sent
    this.streamId = '';
  }

  // begin sends connected and start (docs/protocols/telnyx.md 1.1 and 1.2).
  begin(ids) {
    this.streamId = ids.streamId;
    this.send({ event: 'connected', version: '1.0.0' });
    this.send({
      event: 'start',
      sequence_number: '1',
      stream_id: ids.streamId,
      start: {
        user_id: ids.userId,
        call_control_id: ids.callControlId,
        call_session_id: ids.callSessionId,
        from: ids.from,
        to: '+15550100000',
        tags: ['k6'],
        client_state: '',
        custom_parameters: { sim_script: this.steps.map((s) => s.text).join('|'), sim_call: ids.n },
        media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 },
      },
    });
  }

  // tick sends every frame due by now on the 20 ms schedule from the start.
  tick(now) {
    const due = Math.floor((now - this.t0) / FRAME_MS) + 1;
    if (due - this.sent > MAX_BEHIND) {
      lateFrames.add(due - this.sent - 1);
      this.sent = due - 1;
    }
    while (!this.done && this.sent < due) {
      this.sent++;
      this.step(now);
    }
  }

  // step is one 20 ms frame: echo the marks whose audio has played, move
  // the conversation on, send the frame.
  step(now) {
    let atTail = false;
    while (this.marks.length > 0 && this.marks[0].due <= now) {
      const m = this.marks.shift();
      atTail = m.due >= this.playEnd;
      this.echo(m.name);
    }
    if (atTail) {
      this.endUtterance();
    }
    this.advance(now);
    if (this.done) {
      return;
    }
    this.chunk++;
    this.seq++;
    this.send({
      event: 'media',
      sequence_number: String(this.seq),
      stream_id: this.streamId,
      media: { track: 'inbound', chunk: String(this.chunk), timestamp: String(this.chunk * FRAME_MS), payload: this.payload(now) },
    });
  }

  echo(name) {
    this.seq++;
    this.send({ event: 'mark', sequence_number: String(this.seq), stream_id: this.streamId, mark: { name: name } });
  }

  setPhase(p, now) {
    this.phase = p;
    this.phaseAt = now;
  }

  busy(now) {
    return this.playEnd > now;
  }

  // agentDone: the agent's audio has played out, and ended at a mark (or
  // a clear) or QUIET_MS ago.
  agentDone(now) {
    return !this.busy(now) && (this.tailMark || now - this.playEnd >= QUIET_MS);
  }

  endUtterance() {
    this.talking = false;
    this.tailMark = true;
  }

  advance(now) {
    if (now - this.t0 >= CALL_SECONDS * 1000) {
      this.finish(now, 'call_timeout');
      return;
    }
    if (this.talking && this.agentDone(now)) {
      this.talking = false;
    }
    this.checkBargeIn(now);
    const next = this.turn + 1;
    switch (this.phase) {
      case 'greeting':
        if (now - this.phaseAt >= GREETING_TIMEOUT_MS) {
          this.finish(now, 'no_greeting');
        }
        break;
      case 'listen':
        if (next < this.steps.length && this.steps[next].bargeIn && this.talking && now - this.talkStart >= this.steps[next].delay) {
          this.startLine(now, next);
          return;
        }
        if (!this.agentDone(now)) {
          return;
        }
        if (next >= this.steps.length) {
          this.finish(now, ''); // every line answered and the last reply played
          return;
        }
        if (this.steps[next].bargeIn) {
          this.steps[next].missed = true; // the reply ended before the barge-in point
        }
        this.pauseUntil = now + PAUSE_MS * (0.75 + Math.random() / 2);
        this.setPhase('pause', now);
        break;
      case 'pause':
        if (now >= this.pauseUntil) {
          this.startLine(now, next);
        }
        break;
      case 'reply':
        if (now - this.speechEnd >= REPLY_TIMEOUT_MS) {
          this.finish(now, 'no_reply');
        }
        break;
    }
  }

  // checkBargeIn fails a barge-in line the agent talked through for
  // BARGEIN_TIMEOUT_MS without a clear.
  checkBargeIn(now) {
    if (this.turn < 0 || this.bargeChecked || !this.steps[this.turn].bargeIn || this.speechStart === 0) {
      return;
    }
    const s = this.steps[this.turn];
    if (s.missed || s.cleared) {
      this.bargeChecked = true;
      return;
    }
    if (now - this.speechStart < BARGEIN_TIMEOUT_MS) {
      return;
    }
    this.bargeChecked = true;
    if (this.busy(now)) {
      this.finish(now, 'bargein_no_clear');
    }
  }

  startLine(now, i) {
    this.turn = i;
    this.frame = 0;
    this.speechStart = 0;
    this.setPhase('speak', now);
  }

  // payload is the frame to send at now: the line being spoken, or silence.
  payload(now) {
    if (this.phase !== 'speak') {
      return SILENCE;
    }
    const clip = CLIPS[this.steps[this.turn].text];
    if (this.frame === 0) {
      this.speechStart = now;
    }
    const p = FRAMES[clip.start + this.frame];
    this.frame++;
    if (this.frame === clip.count) {
      this.speechEnd = now; // the line's last voiced frame
      this.steps[this.turn].spoken = true;
      this.setPhase('reply', now);
    }
    return p;
  }

  // onMessage handles one frame from the server (docs/protocols/telnyx.md section 2).
  onMessage(now, data) {
    if (this.done) {
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      callErrors.add(1, { kind: 'bad_message' });
      return;
    }
    if (msg.event === 'media' && msg.media && typeof msg.media.payload === 'string') {
      this.onMedia(now, decodedBytes(msg.media.payload) / 8);
    } else if (msg.event === 'mark' && msg.mark) {
      if (this.busy(now)) {
        this.marks.push({ name: msg.mark.name, due: this.playEnd });
      } else {
        this.echo(msg.mark.name);
        this.endUtterance();
      }
    } else if (msg.event === 'clear') {
      this.onClear(now);
    }
  }

  onMedia(now, ms) {
    mediaMessages.add(1);
    this.playEnd = Math.max(this.playEnd, now) + ms;
    this.tailMark = false;
    if (!this.talking) {
      this.talking = true;
      this.talkStart = now;
    }
    switch (this.phase) {
      case 'greeting':
        this.greeted = true;
        greetingMs.add(now - this.t0);
        this.setPhase('listen', now);
        break;
      case 'reply': {
        const s = this.steps[this.turn];
        s.answered = true;
        replyMs.add(now - this.speechEnd, { barge_in: String(s.bargeIn) });
        this.setPhase('listen', now);
        break;
      }
      case 'pause':
        this.setPhase('listen', now); // the agent had paused, not finished
        break;
    }
  }

  onClear(now) {
    clears.add(1);
    const queued = this.marks;
    this.marks = [];
    for (const m of queued) {
      this.echo(m.name);
    }
    this.playEnd = Math.min(this.playEnd, now);
    this.endUtterance();
    const s = this.turn >= 0 ? this.steps[this.turn] : null;
    if (s && s.bargeIn && !s.cleared && this.speechStart > 0 && (this.phase === 'speak' || this.phase === 'reply')) {
      s.cleared = true;
      bargeInMs.add(now - this.speechStart);
      return;
    }
    callErrors.add(1, { kind: 'unexpected_clear' });
  }

  // finish ends the call once: stop and close unless the server closed.
  finish(now, error) {
    if (this.done) {
      return;
    }
    this.done = true;
    this.error = error;
    if (error !== 'server_closed' && error !== 'connect') {
      this.seq++;
      this.send({ event: 'stop', sequence_number: String(this.seq), stream_id: this.streamId, stop: {} });
      this.closeSocket();
    }
    this.record();
  }

  // record adds the call to the metrics and checks.
  record() {
    const last = this.steps[this.steps.length - 1];
    const completed = this.error === '' || (this.error === 'server_closed' && last.spoken);
    if (this.error !== '') {
      callErrors.add(1, { kind: this.error });
    }
    callsCompleted.add(completed);
    // A server that hangs up after the last line (the demo agent after
    // "goodbye") may do so without a reply: that line is not held against it.
    const excused = (s) => s === last && this.error === 'server_closed' && s.spoken;
    let bargeIns = 0;
    let cleared = 0;
    for (const s of this.steps) {
      if (s.spoken && !excused(s)) {
        linesAnswered.add(s.answered);
      }
      if (s.bargeIn && !s.missed && s.spoken) {
        bargeIns++;
        cleared += s.cleared ? 1 : 0;
        bargeInsCleared.add(s.cleared);
      }
    }
    check(this, {
      'websocket opened': (c) => c.error !== 'connect',
      'greeting received': (c) => c.greeted,
      'every line answered': (c) => c.steps.every((s) => s.answered || excused(s)),
    });
    if (bargeIns > 0) {
      check(cleared, { 'barge-in cleared the agent': (n) => n === bargeIns });
    }
  }
}

// placeCall runs one call on a new socket; the iteration ends when the
// socket has closed and the frame timer is cleared.
export function placeCall(n) {
  const callControlId = `v3:k6-${n}-${uuid(false).slice(0, 12)}`;
  const ids = {
    n: String(n),
    streamId: uuid(true),
    userId: '5c0d8e1a-0000-4000-8000-00000000c0de',
    callControlId: callControlId,
    callSessionId: uuid(false),
    from: `+1555${String(n % 10000000).padStart(7, '0')}`,
  };
  const params = { tags: { name: 'media' } };
  if (AUTH_TOKEN !== '') {
    params.headers = { 'x-telnyx-streaming-auth-token': AUTH_TOKEN };
  }
  const ws = new WebSocket(streamURL(URL, STREAM_SECRET, callControlId, Date.now()), null, params);
  let timer = null;
  const stopTimer = () => {
    if (timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
  const isOpen = () => ws.readyState === 1; // WebSocket.OPEN
  const call = new Call(planCall(SCRIPT, BARGEIN, Math.random), Date.now(), (obj) => {
    if (isOpen()) {
      ws.send(JSON.stringify(obj));
    }
  }, () => {
    stopTimer();
    if (isOpen()) {
      ws.close();
    }
  });

  ws.onopen = () => {
    call.t0 = Date.now();
    call.phaseAt = call.t0;
    call.begin(ids);
    call.tick(call.t0);
    // Ticks come every 20 ms or later; each sends what is due.
    timer = setInterval(() => call.tick(Date.now()), FRAME_MS);
  };
  ws.onmessage = (e) => call.onMessage(Date.now(), e.data);
  ws.onerror = () => {
    stopTimer();
    call.finish(Date.now(), call.chunk === 0 && !call.greeted ? 'connect' : 'read_error');
  };
  ws.onclose = () => {
    stopTimer();
    call.finish(Date.now(), 'server_closed');
  };
  return call;
}

export default function () {
  // Call numbers (and so caller numbers) unique for up to 10,000 calls a VU.
  placeCall((__VU - 1) * 10000 + (__ITER % 10000) + 1);
}
