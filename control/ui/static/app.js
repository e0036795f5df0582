// IACE supervisor page: log in with the control API, follow live calls
// through its Server-Sent Events, listen in over WHEP, talk and whisper
// over WHIP and the role commands, read past calls.
// Everything the server sends is put on the page as text, never as HTML.
"use strict";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);

// ---- tokens ----------------------------------------------------------------

const auth = { access: "", refresh: "", expiresAt: 0, timer: 0, me: null };

function setTokens(t) {
  auth.access = t.access_token;
  auth.refresh = t.refresh_token;
  auth.expiresAt = Date.now() + t.expires_in * 1000;
  sessionStorage.setItem("iace.refresh", t.refresh_token);
  clearTimeout(auth.timer);
  // Refresh at four fifths of the access token's life.
  auth.timer = setTimeout(() => refresh().catch(loggedOut), Math.max(5, t.expires_in * 0.8) * 1000);
}

async function refresh() {
  const token = auth.refresh || sessionStorage.getItem("iace.refresh");
  if (!token) throw new Error("not logged in");
  const res = await fetch(API + "/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: token }),
  });
  if (!res.ok) throw new Error("session expired");
  setTokens(await res.json());
}

async function api(path, opts = {}, retried = false) {
  const headers = Object.assign({ Authorization: "Bearer " + auth.access }, opts.headers || {});
  // API paths are relative to /api/v1; WHEP's and WHIP's are the server's own.
  const url = path.startsWith("/whep/") || path.startsWith("/whip/") || path.startsWith(API + "/") ? path : API + path;
  const res = await fetch(url, Object.assign({}, opts, { headers }));
  if (res.status === 401 && !retried) {
    await refresh();
    return api(path, opts, true);
  }
  return res;
}

async function apiJSON(path) {
  const res = await api(path);
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}

// canSupervise: the logged-in user may listen, talk, switch roles and
// whisper. The server checks it too; viewers are refused there.
function canSupervise() {
  return !!auth.me && (auth.me.role === "admin" || auth.me.role === "supervisor");
}

// refused turns a refusal from the server (a problem+json, or text) into an
// Error carrying status, detail and retryAfter.
async function refused(res) {
  const body = await res.text().catch(() => "");
  let detail = "";
  try {
    const p = JSON.parse(body);
    detail = p.detail || p.title || "";
  } catch {
    detail = body.length < 200 ? body.trim() : "";
  }
  const e = new Error("HTTP " + res.status + (detail ? ": " + detail : ""));
  return Object.assign(e, { status: res.status, detail, retryAfter: res.headers.get("Retry-After") || "" });
}

// refusalText says why the server refused, for a person.
function refusalText(e, known = {}) {
  if (!e.status) return e.message;
  const common = { 403: "your role may not do this", 404: "the call is not live any more" };
  let t = (known[e.status] || common[e.status] || e.detail || "HTTP " + e.status) + " (HTTP " + e.status + ")";
  if (e.retryAfter) t += "; try again in " + e.retryAfter + " s";
  return t;
}

function loggedOut() {
  // Hang up first, while the access token still opens the session's DELETE.
  stopCall();
  clearTimeout(auth.timer);
  Object.assign(auth, { access: "", refresh: "", me: null });
  sessionStorage.removeItem("iace.refresh");
  live.abort?.abort();
  $("app").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
}

// ---- Server-Sent Events over fetch (EventSource cannot send a token) --------

async function follow(path, onEvent, signal) {
  const res = await api(path, { signal, headers: { Accept: "text/event-stream" } });
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let ev = { type: "message", data: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line === "") {
        if (ev.data) onEvent(ev.type, JSON.parse(ev.data));
        ev = { type: "message", data: "" };
      } else if (line.startsWith("event:")) {
        ev.type = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        ev.data += line.slice(5).trim();
      }
    }
  }
}

// ---- the live list -----------------------------------------------------------

const live = { calls: new Map(), abort: null };

function callLabel(c) {
  const started = new Date(c.started_at);
  return (c.agent_id || "agent") + " · " + started.toLocaleTimeString() + (c.state ? " · " + c.state : "") +
    (c.supervisor_role && c.supervisor_role !== "monitor" ? " · supervisor: " + c.supervisor_role : "");
}

function renderLive() {
  const ul = $("live-calls");
  ul.replaceChildren();
  for (const c of live.calls.values()) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.callId = c.id;
    b.textContent = callLabel(c);
    if (current.id === c.id) b.setAttribute("aria-current", "true");
    b.addEventListener("click", () => openCall(c.id, true));
    li.append(b);
    ul.append(li);
  }
  $("live-count").textContent = "(" + live.calls.size + ")";
}

async function followLive() {
  live.abort?.abort();
  live.abort = new AbortController();
  const signal = live.abort.signal;
  for (let backoff = 1000; !signal.aborted; backoff = Math.min(backoff * 2, 30000)) {
    try {
      $("live-status").textContent = "";
      await follow("/calls/live/events", (type, ev) => {
        backoff = 1000;
        if (type === "snapshot") {
          live.calls = new Map((ev.calls || []).map((c) => [c.id, c]));
        } else if (type === "started" && ev.call) {
          live.calls.set(ev.call.id, ev.call);
        } else if (type === "ended") {
          live.calls.delete(ev.call_id);
          loadPast();
        } else if (live.calls.has(ev.call_id)) {
          const c = live.calls.get(ev.call_id);
          if (ev.state) c.state = ev.state;
          if (type === "supervisor_role" && ev.role) c.supervisor_role = ev.role;
        }
        renderLive();
      }, signal);
    } catch (e) {
      if (signal.aborted) return;
      $("live-status").textContent = "live list: " + e.message + "; retrying";
    }
    await new Promise((r) => setTimeout(r, backoff));
  }
}

// ---- past calls --------------------------------------------------------------

let pastCursor = "";

async function loadPast(more = false) {
  const q = "/calls?status=ended&limit=20" + (more && pastCursor ? "&cursor=" + encodeURIComponent(pastCursor) : "");
  const page = await apiJSON(q).catch(() => null);
  if (!page) return;
  const ul = $("past-calls");
  if (!more) ul.replaceChildren();
  for (const c of page.items || []) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = (c.agent?.name || c.agent_id || "agent") + " · " + new Date(c.started_at).toLocaleString() +
      (c.outcome ? " · " + c.outcome : "");
    b.addEventListener("click", () => openCall(c.id, false));
    li.append(b);
    ul.append(li);
  }
  pastCursor = page.next_cursor || "";
  $("more-calls").hidden = !pastCursor;
}

// ---- one call ----------------------------------------------------------------

// snapshots counts the call's snapshots: one when its stream opens, one more
// each time the call goes on at another node (followMove).
const current = { id: "", abort: null, scores: [], agentLine: null, snapshots: 0 };

function stopCall() {
  current.abort?.abort();
  stopListening();
  stopTalking();
  Object.assign(current, { id: "", abort: null, scores: [], agentLine: null, snapshots: 0 });
}

function fmtProb(v) { return v == null ? "–" : Math.round(v * 100) + " %"; }

function drawSentiment() {
  const svg = $("sentiment");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const zero = document.createElementNS(ns, "line");
  zero.setAttribute("x1", "0"); zero.setAttribute("x2", "200"); zero.setAttribute("y1", "20"); zero.setAttribute("y2", "20");
  svg.append(zero);
  if (current.scores.length === 0) return;
  const step = current.scores.length > 1 ? 200 / (current.scores.length - 1) : 0;
  const pts = current.scores.map((s, i) => (i * step).toFixed(1) + "," + (20 - s * 18).toFixed(1)).join(" ");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", current.scores.length > 1 ? pts : "0," + (20 - current.scores[0] * 18) + " 200," + (20 - current.scores[0] * 18));
  svg.append(line);
}

function addLine(cls, text) {
  const li = document.createElement("li");
  li.className = cls;
  li.textContent = text;
  $("transcript").append(li);
  return li;
}

function addEvent(text) {
  const li = document.createElement("li");
  li.textContent = text;
  $("events").append(li);
}

function onCallEvent(type, ev) {
  switch (type) {
    case "snapshot":
      if (++current.snapshots > 1) followMove();
      if (ev.call) {
        $("call-state").textContent = ev.call.state || "–";
        $("call-resolution").textContent = fmtProb(ev.call.resolution_probability);
        $("call-risk").textContent = fmtProb(ev.call.escalation_risk);
        if (ev.call.supervisor_role) showRole(ev.call.supervisor_role);
      }
      break;
    case "supervisor_role":
      if (ev.role) {
        showRole(ev.role);
        addLine("role", "Supervisor role: " + ev.role);
      }
      break;
    // The guidance, on its own line: never a caller's or the agent's words.
    case "whisper": if (ev.text) addLine("whisper", ev.text); break;
    case "state": $("call-state").textContent = ev.state; break;
    case "transcript": $("interim").textContent = ev.final ? "" : ev.text || ""; break;
    case "caller_turn": $("interim").textContent = ""; addLine("caller", ev.text); current.agentLine = null; break;
    case "agent_text":
      if (!current.agentLine) current.agentLine = addLine("agent", "");
      current.agentLine.textContent = (current.agentLine.textContent + " " + ev.text).trim();
      break;
    case "barge_in":
    case "agent_turn":
      if (current.agentLine) {
        current.agentLine.textContent = ev.text || current.agentLine.textContent;
        if (type === "barge_in" || ev.interrupted) current.agentLine.classList.add("cut");
      } else if (ev.text) {
        addLine("agent", ev.text);
      }
      if (type === "agent_turn") current.agentLine = null;
      break;
    case "sentiment": current.scores.push(ev.sentiment); drawSentiment(); break;
    case "prediction":
      $("call-resolution").textContent = fmtProb(ev.resolution_probability);
      $("call-risk").textContent = fmtProb(ev.escalation_risk);
      break;
    case "latency": $("call-latency").textContent = ev.reply_latency_ms + " ms"; break;
    case "dtmf": addEvent("key pressed" + (ev.digit ? ": " + ev.digit : "")); break;
    case "transfer_requested": addEvent("handed to a person: " + ev.reason); break;
    case "would_escalate": addEvent("an escalation rule fired (not handed over): " + ev.reason); break;
    case "holding_phrase": addEvent("a provider failed: " + ev.reason); break;
    case "ended":
      addEvent("call ended: " + ev.reason);
      $("call-state").textContent = "ended";
      stopListening();
      $("listen-box").hidden = true;
      stopTalking();
      $("supervise-box").hidden = true;
      break;
    case "dropped": addEvent("the live stream stopped: " + ev.reason); break;
  }
}

async function openCall(id, isLive) {
  stopCall();
  current.id = id;
  renderLive();
  $("call").hidden = false;
  $("call-title").textContent = "Call " + id;
  for (const k of ["call-state", "call-resolution", "call-risk", "call-latency", "call-outcome"]) $(k).textContent = "–";
  $("transcript").replaceChildren();
  $("events").replaceChildren();
  $("interim").textContent = "";
  $("patterns").replaceChildren();
  $("patterns-box").hidden = true;
  drawSentiment();
  const canListen = canSupervise();
  $("listen-box").hidden = !(isLive && canListen);
  $("listen").textContent = "Listen";
  // Talking, roles and whispers: supervisors and admins, on a live call.
  $("supervise-box").hidden = !(isLive && canListen);
  $("supervise-error").textContent = "";
  $("talk-status").textContent = "";
  $("whisper-text").value = "";
  showRole(isLive ? live.calls.get(id)?.supervisor_role || "" : "");
  if (isLive) {
    current.abort = new AbortController();
    follow("/calls/" + encodeURIComponent(id) + "/events", onCallEvent, current.abort.signal).catch((e) => {
      if (current.id === id && !current.abort.signal.aborted) addEvent("live events: " + e.message);
    });
    return;
  }
  await showPast(id);
}

async function showPast(id) {
  const d = await apiJSON("/calls/" + encodeURIComponent(id));
  if (current.id !== id) return;
  $("call-state").textContent = d.status || "ended";
  $("call-outcome").textContent = (d.outcome || "–") + (d.escalation_reason ? " (" + d.escalation_reason + ")" : "");
  if (d.prediction) {
    $("call-resolution").textContent = fmtProb(d.prediction.resolution);
    $("call-risk").textContent = fmtProb(d.prediction.escalation_risk);
  }
  for (const t of d.turns || []) {
    const li = addLine(t.speaker === "caller" ? "caller" : "agent", t.text);
    if (t.interrupted) li.classList.add("cut");
    if (t.speaker === "caller" && typeof t.sentiment === "number") current.scores.push(t.sentiment);
  }
  drawSentiment();
  for (const e of d.events || []) addEvent(new Date(e.at).toLocaleTimeString() + " " + e.type + (e.detail ? ": " + e.detail : ""));
  if (d.summary) addEvent("handoff summary: " + d.summary);
  const pats = await apiJSON("/patterns?limit=100").catch(() => null);
  const mine = (pats?.items || []).filter((p) => (p.source_call_ids || []).includes(id));
  for (const p of mine) {
    const li = document.createElement("li");
    li.textContent = p.kind + ": “" + p.trigger + "” → “" + p.response + "” (" + p.status + ", used " + p.uses + ")";
    $("patterns").append(li);
  }
  $("patterns-box").hidden = mine.length === 0;
}

// followMove opens listening and the microphone again where the call is
// now. The call's stream sends a snapshot after the first when the call
// went on at another node (the node that held it drained, or was lost and
// its call taken up); the node it left closed the WHEP and WHIP sessions
// it held. Whatever was on (or lost its connection meanwhile, as a session
// the old node closed does) is opened again; the server relays the offers
// to the call's new node.
function followMove() {
  const listening = !!(listen.pc || listen.pending || listen.lost), talking = !!(talk.pc || talk.lost);
  const again = [listening ? "listening" : "", talking ? "talking" : ""].filter(Boolean).join(" and ");
  addEvent("the call moved to another server" + (again ? "; " + again + " again" : ""));
  if (listening) {
    stopListening();
    startListening().catch((e) => { stopListening(); $("listen-status").textContent = e.message; });
  }
  if (talking) {
    stopTalking();
    startTalking().catch((e) => { stopTalking(); superviseError("cannot talk: " + e.message); });
  }
}

// ---- listening (WHEP) --------------------------------------------------------

// gen tells a start that was stopped while it asked for the ICE servers.
// lost says the connection failed while listening: the next move of the
// call (followMove) opens it again.
const listen = { pc: null, session: "", meter: 0, ctx: null, gen: 0, pending: false, lost: false };

function stopListening() {
  listen.gen++;
  listen.pending = false;
  listen.lost = false;
  cancelAnimationFrame(listen.meter);
  if (listen.session) {
    api(listen.session, { method: "DELETE" }).catch(() => {});
  }
  listen.pc?.close();
  listen.ctx?.close();
  Object.assign(listen, { pc: null, session: "", meter: 0, ctx: null });
  $("audio").srcObject = null;
  $("level").value = 0;
  $("listen").textContent = "Listen";
  $("listen-status").textContent = "";
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 2000); // what is gathered by then is enough on a LAN
  });
}

function startMeter(stream) {
  listen.ctx = new AudioContext();
  const an = listen.ctx.createAnalyser();
  an.fftSize = 512;
  listen.ctx.createMediaStreamSource(stream).connect(an);
  const data = new Float32Array(an.fftSize);
  const tick = () => {
    an.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    $("level").value = Math.min(1, Math.sqrt(sum / data.length) * 4);
    listen.meter = requestAnimationFrame(tick);
  };
  tick();
}

// iceServers asks a WHEP or WHIP endpoint for its STUN and TURN servers
// (Link rel="ice-server", RFC 9725 section 4.6, with TURN credentials when
// the server hands them out): the server takes no trickled candidates, so
// a relay must be known before the offer is made. None on any failure.
async function iceServers(url) {
  try {
    const res = await api(url, { method: "OPTIONS" });
    return parseIceLinks(res.headers.get("Link") || "");
  } catch {
    return [];
  }
}

// parseIceLinks reads Link header values into RTCIceServer objects.
function parseIceLinks(header) {
  const out = [];
  for (const m of header.matchAll(/<([^>]*)>([^<]*)/g)) {
    const params = {};
    for (const p of m[2].matchAll(/;\s*([A-Za-z-]+)="([^"]*)"/g)) params[p[1].toLowerCase()] = p[2];
    if (params.rel !== "ice-server") continue;
    const server = { urls: m[1] };
    if (params.username) {
      server.username = params.username;
      server.credential = params.credential || "";
    }
    out.push(server);
  }
  return out;
}

// offer sends pc's offer, once its candidates are gathered, to a WHEP or
// WHIP endpoint and applies the answer. It resolves to the session's
// Location (DELETE it to hang up); a refusal throws refused's Error. A
// session the answer cannot be applied to (pc closed meanwhile) is hung up.
async function offer(pc, url) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  if (pc.signalingState === "closed") throw new Error("stopped");
  const res = await api(url, {
    method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
  });
  if (res.status !== 201) throw await refused(res);
  const session = res.headers.get("Location") || "";
  try {
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  } catch (e) {
    if (session) api(session, { method: "DELETE" }).catch(() => {});
    throw e;
  }
  return session;
}

async function startListening() {
  const id = current.id;
  const url = "/whep/calls/" + encodeURIComponent(id);
  const gen = ++listen.gen;
  listen.pending = true;
  const servers = await iceServers(url);
  if (listen.gen !== gen || current.id !== id) return; // stopped, or left the call, meanwhile
  listen.pending = false;
  const pc = new RTCPeerConnection({ iceServers: servers });
  listen.pc = pc;
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addEventListener("track", (e) => {
    const stream = e.streams[0] || new MediaStream([e.track]);
    $("audio").srcObject = stream;
    $("audio").play().catch(() => {});
    startMeter(stream);
  });
  pc.addEventListener("connectionstatechange", () => {
    if (listen.pc !== pc) return; // an earlier connection, closed
    $("listen-status").textContent = pc.connectionState;
    if (pc.connectionState === "failed") {
      stopListening();
      listen.lost = true;
      $("listen-status").textContent = "failed";
    }
  });
  let session;
  try {
    session = await offer(pc, url);
  } catch (e) {
    if (listen.pc !== pc) return; // stopped meanwhile
    if (!e.status) throw e;
    stopListening();
    $("listen-status").textContent = "cannot listen: HTTP " + e.status + (e.retryAfter ? ", try again in " + e.retryAfter + " s" : "");
    return;
  }
  if (listen.pc !== pc) { // stopped meanwhile: hang up what was opened
    if (session) api(session, { method: "DELETE" }).catch(() => {});
    return;
  }
  listen.session = session;
  $("listen").textContent = "Stop listening";
}

// stats is for tests and curious supervisors: what the listening
// connection received.
async function stats() {
  const out = { packetsReceived: 0, totalAudioEnergy: 0, totalSamplesReceived: 0, codec: "" };
  if (!listen.pc) return out;
  const report = await listen.pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.packetsReceived += s.packetsReceived || 0;
      out.totalAudioEnergy += s.totalAudioEnergy || 0;
      out.totalSamplesReceived += s.totalSamplesReceived || 0;
      const c = s.codecId && report.get(s.codecId);
      if (c) out.codec = c.mimeType;
    }
  });
  return out;
}

// ---- talking (WHIP), roles and whispers --------------------------------------

// talk is the supervisor's microphone on the current call. gen moves on
// at every stop, so that an attempt still under way learns it is stale;
// lost says the connection failed while talking (see followMove).
const talk = { pc: null, stream: null, session: "", gen: 0, lost: false };

function superviseError(text) { $("supervise-error").textContent = text; }

function setTalkPressed(on) {
  $("talk").setAttribute("aria-pressed", on ? "true" : "false");
}

// stopTalking hangs up (DELETE on the session's Location, kept alive when
// the page goes away), closes the connection and turns the microphone off.
function stopTalking(unloading = false) {
  talk.gen++;
  talk.lost = false;
  if (talk.session) api(talk.session, { method: "DELETE", keepalive: unloading }).catch(() => {});
  talk.pc?.close();
  for (const t of talk.stream?.getTracks() || []) t.stop();
  Object.assign(talk, { pc: null, stream: null, session: "" });
  setTalkPressed(false);
  $("talk-status").textContent = "";
}

function micError(e) {
  switch (e?.name) {
    case "NotAllowedError": return "microphone access was refused";
    case "NotFoundError": return "no microphone found";
    case "NotReadableError": return "the microphone is in use or not working";
    default: return e?.message || String(e);
  }
}

async function startTalking() {
  const id = current.id;
  const gen = ++talk.gen;
  const stale = () => talk.gen !== gen || current.id !== id;
  const fail = (text) => {
    if (stale()) return;
    stopTalking();
    superviseError("cannot talk: " + text);
  };
  superviseError("");
  setTalkPressed(true);
  $("talk-status").textContent = "opening the microphone…";
  if (!navigator.mediaDevices?.getUserMedia) {
    fail("this browser gives no microphone here (the page needs HTTPS)");
    return;
  }
  let stream;
  try {
    // Production audio: the browser's echo cancellation and noise
    // suppression stay on (their defaults).
    stream = await navigator.mediaDevices.getUserMedia(window.iace.micConstraints);
  } catch (e) {
    fail(micError(e));
    return;
  }
  if (stale()) {
    for (const t of stream.getTracks()) t.stop();
    return;
  }
  talk.stream = stream;
  const [track] = stream.getAudioTracks();
  track.addEventListener("ended", () => { if (talk.stream === stream) fail("the microphone stopped"); });
  const url = "/whip/calls/" + encodeURIComponent(id);
  const servers = await iceServers(url);
  if (stale()) {
    for (const t of stream.getTracks()) t.stop();
    return;
  }
  const pc = new RTCPeerConnection({ iceServers: servers });
  talk.pc = pc;
  pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
  pc.addEventListener("connectionstatechange", () => {
    if (talk.pc !== pc) return;
    $("talk-status").textContent = "microphone on · " + pc.connectionState;
    if (pc.connectionState === "failed") {
      fail("the connection failed");
      talk.lost = true;
    }
  });
  $("talk-status").textContent = "connecting…";
  let session;
  try {
    session = await offer(pc, url);
  } catch (e) {
    fail(refusalText(e, { 409: "another supervisor is already talking on this call" }));
    return;
  }
  if (stale()) { // stopped meanwhile: hang up what was opened
    if (session) api(session, { method: "DELETE" }).catch(() => {});
    return;
  }
  talk.session = session;
  $("talk-status").textContent = "microphone on · " + pc.connectionState;
}

// showRole shows the call's supervisor role ("" when unknown) and marks
// its button.
function showRole(role) {
  $("role").textContent = role || "–";
  $("role").dataset.role = role || "";
  $("supervise-box").dataset.role = role || "";
  for (const b of document.querySelectorAll("#roles button[data-role]")) {
    b.setAttribute("aria-pressed", b.dataset.role === role ? "true" : "false");
  }
}

async function postJSON(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

async function switchRole(role) {
  const id = current.id;
  if (!id) return;
  superviseError("");
  const res = await postJSON("/calls/" + encodeURIComponent(id) + "/role", { role });
  if (current.id !== id) return;
  if (!res.ok) {
    superviseError("cannot switch to " + role + ": " + refusalText(await refused(res)));
    return;
  }
  const b = await res.json().catch(() => null);
  showRole(b?.role || role);
}

const maxWhisperBytes = 1000;

async function sendWhisper() {
  const id = current.id;
  const input = $("whisper-text");
  const text = input.value.trim();
  if (!id || !text) return;
  superviseError("");
  if (new TextEncoder().encode(text).length > maxWhisperBytes) {
    superviseError("cannot whisper: the guidance is too long");
    return;
  }
  const button = $("whisper-form").querySelector("button[type=submit]");
  input.readOnly = true;
  button.disabled = true;
  try {
    const res = await postJSON("/calls/" + encodeURIComponent(id) + "/whisper", { text });
    if (current.id !== id) return;
    if (res.status === 202) {
      input.value = "";
    } else {
      superviseError("cannot whisper: " + refusalText(await refused(res), { 422: "the guidance is empty or too long" }));
    }
  } finally {
    input.readOnly = false;
    button.disabled = false;
  }
}

// talkStats is for tests and curious supervisors: what the talking
// connection sent.
async function talkStats() {
  const out = { packetsSent: 0, codec: "" };
  if (!talk.pc) return out;
  const report = await talk.pc.getStats();
  report.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "audio") {
      out.packetsSent += s.packetsSent || 0;
      const c = s.codecId && report.get(s.codecId);
      if (c) out.codec = c.mimeType;
    }
  });
  return out;
}

// sessions names the WHEP and WHIP sessions open ("" for none): their
// Locations, whose ids begin with the name of the node that holds them.
const sessions = () => ({ listen: listen.session, talk: talk.session });

// micConstraints are the microphone's: the browser's defaults (echo
// cancellation, noise suppression, gain control on), which a test may turn
// off to send a test tone untouched.
window.iace = { stats, talkStats, sessions, micConstraints: { audio: true } };

// ---- start -------------------------------------------------------------------

async function loggedIn() {
  auth.me = await apiJSON("/me");
  $("who").textContent = auth.me.email + " · " + auth.me.org_name + " · " + auth.me.role;
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  followLive();
  loadPast();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    const res = await fetch(API + "/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: $("email").value, password: $("password").value }),
    });
    if (!res.ok) {
      $("login-error").textContent = res.status === 429 ? "Too many attempts; wait a moment." : "Wrong email or password.";
      return;
    }
    $("password").value = "";
    setTokens(await res.json());
    loggedIn().catch((err) => { $("login-error").textContent = err.message; loggedOut(); });
  });
  $("logout").addEventListener("click", async () => {
    stopTalking(); // while the token still opens the session's DELETE
    await fetch(API + "/auth/logout", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: auth.refresh }),
    }).catch(() => {});
    loggedOut();
  });
  $("listen").addEventListener("click", () => {
    if (listen.pc || listen.pending) stopListening();
    else startListening().catch((e) => { stopListening(); $("listen-status").textContent = e.message; });
  });
  $("talk").addEventListener("click", () => {
    if ($("talk").getAttribute("aria-pressed") === "true") stopTalking();
    else startTalking().catch((e) => { stopTalking(); superviseError("cannot talk: " + e.message); });
  });
  for (const b of document.querySelectorAll("#roles button[data-role]")) {
    b.addEventListener("click", () => switchRole(b.dataset.role).catch((e) => superviseError(e.message)));
  }
  $("whisper-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sendWhisper().catch((err) => superviseError("cannot whisper: " + err.message));
  });
  // Leaving the page hangs up the microphone.
  window.addEventListener("pagehide", () => stopTalking(true));
  $("more-calls").addEventListener("click", () => loadPast(true));
  // A reload keeps the login for as long as the refresh token lives.
  refresh().then(loggedIn).catch(loggedOut);
});
