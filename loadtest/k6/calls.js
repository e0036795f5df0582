// k6 load script for IACE: each VU places Telnyx-style media-stream calls over
// k6's WebSocket module (telnyx.md sections 1 and 2). A call sends connected
// and start, then one 20 ms PCMU media frame every 20 ms: silence, a 400 Hz
// tone while "speaking" (an energy VAD hears it as speech), echoes the
// server's marks when the audio queued before them has played, honours clear,
// and ends with stop. The Go simulator (loadtest/callsim) measures far more;
// this script is for running IACE under k6's own tooling and dashboards.
//
//   k6 run -e IACE_URL=ws://127.0.0.1:8080/media/telnyx -e VUS=50 -e DURATION=2m loadtest/k6/calls.js
//
// Environment: IACE_URL, VUS (default 10), DURATION (default 1m), CALL_SECONDS
// (default 15: a call hangs up after this unless the server closes first),
// SCRIPT (lines joined with "|", sent as custom_parameters.sim_script).

import ws from 'k6/ws';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

export const options = {
  vus: parseInt(__ENV.VUS || '10', 10),
  duration: __ENV.DURATION || '1m',
  thresholds: {
    checks: ['rate>0.99'],
    iace_greeting_ms: ['p(95)<2000'],
    iace_reply_ms: ['p(95)<3000'],
  },
};

const URL = __ENV.IACE_URL || 'ws://127.0.0.1:8080/media/telnyx';
const CALL_SECONDS = parseFloat(__ENV.CALL_SECONDS || '15');
const SCRIPT = __ENV.SCRIPT || 'what are your opening hours|goodbye';
const FRAME_MS = 20;

// One 20 ms frame (160 bytes) of mu-law: digital silence, and a 400 Hz tone
// at about -12 dBFS that loops seamlessly (exactly 8 cycles).
const SILENCE = '/////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////w==';
const TONE = '/7utpqGgoaatu/87LSYhICEmLTv/u62moaChpq27/zstJiEgISYtO/+7raahoKGmrbv/Oy0mISAhJi07/7utpqGgoaatu/87LSYhICEmLTv/u62moaChpq27/zstJiEgISYtO/+7raahoKGmrbv/Oy0mISAhJi07/7utpqGgoaatu/87LSYhICEmLTv/u62moaChpq27/zstJiEgISYtOw==';

// How long each scripted line is "spoken" (ms of tone), by word count.
const MS_PER_WORD = 300;

const greetingMs = new Trend('iace_greeting_ms', true);
const replyMs = new Trend('iace_reply_ms', true);
const mediaMessages = new Counter('iace_media_messages');
const clears = new Counter('iace_clears');
const answered = new Rate('iace_lines_answered');

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

export default function () {
  const lines = SCRIPT.split('|');
  const streamId = uuid(true);
  const callControlId = `v3:k6-${__VU}-${__ITER}-${uuid(false).slice(0, 8)}`;
  const userId = '5c0d8e1a-0000-4000-8000-00000000c0de';
  const t0 = Date.now();

  let seq = 1;
  let chunk = 0;
  let greeted = false;
  let line = -1; // line being spoken or answered
  let speakUntil = 0; // tone until this time
  let speechEnd = 0; // when the current line ended, 0 while waiting for nothing
  let playEnd = 0; // when the audio queued so far has played
  let lastAudio = 0;
  let pendingMarks = []; // {name, due}
  let replied = [];
  let ended = false;

  const res = ws.connect(URL, {}, function (socket) {
    const send = (obj) => socket.send(JSON.stringify(obj));
    const echo = (name) => {
      seq++;
      send({ event: 'mark', stream_id: streamId, sequence_number: String(seq), mark: { name: name } });
    };
    const hangUp = () => {
      if (ended) {
        return;
      }
      ended = true;
      seq++;
      send({ event: 'stop', sequence_number: String(seq), stream_id: streamId, stop: { user_id: userId, call_control_id: callControlId } });
      socket.close();
    };

    socket.on('open', () => {
      send({ event: 'connected', version: '1.0.0' });
      send({
        event: 'start',
        sequence_number: '1',
        stream_id: streamId,
        start: {
          user_id: userId,
          call_control_id: callControlId,
          call_session_id: uuid(false),
          from: `+1555${String(1000000 + __VU * 1000 + (__ITER % 1000)).slice(-7)}`,
          to: '+15550100000',
          tags: ['k6'],
          client_state: '',
          custom_parameters: { sim_script: SCRIPT },
          media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 },
        },
      });

      socket.setInterval(() => {
        if (ended) {
          return;
        }
        const now = Date.now();
        // Marks whose audio has played come back, in order.
        while (pendingMarks.length > 0 && pendingMarks[0].due <= now) {
          echo(pendingMarks.shift().name);
        }
        // Speak the next line once the agent has been quiet for 800 ms.
        const quiet = playEnd <= now && now - Math.max(playEnd, lastAudio) > 800;
        if (speakUntil <= now && quiet && (greeted || now - t0 > 3000) && line + 1 < lines.length &&
            (line < 0 || replied[line] !== undefined)) {
          line++;
          const words = lines[line].split(' ').length;
          speakUntil = now + Math.max(600, words * MS_PER_WORD);
          speechEnd = 0;
        }
        const speaking = now < speakUntil;
        if (!speaking && speakUntil > 0 && speechEnd === 0) {
          speechEnd = speakUntil;
        }
        chunk++;
        seq++;
        send({
          event: 'media',
          sequence_number: String(seq),
          stream_id: streamId,
          media: { track: 'inbound', chunk: String(chunk), timestamp: String(chunk * FRAME_MS), payload: speaking ? TONE : SILENCE },
        });
        if (line === lines.length - 1 && replied[line] !== undefined && quiet) {
          hangUp();
        }
      }, FRAME_MS);

      socket.setTimeout(hangUp, CALL_SECONDS * 1000);
    });

    socket.on('message', (data) => {
      const now = Date.now();
      let msg;
      try {
        msg = JSON.parse(data);
      } catch (e) {
        return;
      }
      if (msg.event === 'media') {
        mediaMessages.add(1);
        const ms = decodedBytes(msg.media.payload) / 8;
        playEnd = Math.max(playEnd, now) + ms;
        lastAudio = now;
        if (!greeted) {
          greeted = true;
          greetingMs.add(now - t0);
        }
        if (line >= 0 && speechEnd > 0 && now >= speechEnd && replied[line] === undefined) {
          replied[line] = now - speechEnd;
          replyMs.add(replied[line]);
        }
      } else if (msg.event === 'mark') {
        if (playEnd <= now) {
          echo(msg.mark.name);
        } else {
          pendingMarks.push({ name: msg.mark.name, due: playEnd });
        }
      } else if (msg.event === 'clear') {
        clears.add(1);
        playEnd = now;
        const queued = pendingMarks;
        pendingMarks = [];
        queued.forEach((m) => echo(m.name));
      }
    });

    socket.on('close', () => {
      ended = true;
    });
    socket.on('error', (e) => {
      ended = true;
    });
  });

  check(res, { 'websocket upgraded (101)': (r) => r && r.status === 101 });
  check(greeted, { 'greeting received': (g) => g === true });
  for (let i = 0; i < lines.length; i++) {
    answered.add(replied[i] !== undefined);
  }
  check(replied, { 'first line answered': (r) => r[0] !== undefined });
}
