// IACE supervisor page: log in with the control API, follow live calls
// through its Server-Sent Events, listen in over WHEP, read past calls.
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
  // API paths are relative to /api/v1; WHEP's are the server's own.
  const url = path.startsWith("/whep/") || path.startsWith(API + "/") ? path : API + path;
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

function loggedOut() {
  clearTimeout(auth.timer);
  Object.assign(auth, { access: "", refresh: "", me: null });
  sessionStorage.removeItem("iace.refresh");
  stopCall();
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
  return (c.agent_id || "agent") + " · " + started.toLocaleTimeString() + (c.state ? " · " + c.state : "");
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

const current = { id: "", abort: null, scores: [], agentLine: null };

function stopCall() {
  current.abort?.abort();
  stopListening();
  Object.assign(current, { id: "", abort: null, scores: [], agentLine: null });
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
      if (ev.call) {
        $("call-state").textContent = ev.call.state || "–";
        $("call-resolution").textContent = fmtProb(ev.call.resolution_probability);
        $("call-risk").textContent = fmtProb(ev.call.escalation_risk);
      }
      break;
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
  const canListen = auth.me && (auth.me.role === "admin" || auth.me.role === "supervisor");
  $("listen-box").hidden = !(isLive && canListen);
  $("listen").textContent = "Listen";
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

// ---- listening (WHEP) --------------------------------------------------------

const listen = { pc: null, session: "", meter: 0, ctx: null };

function stopListening() {
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

async function startListening() {
  const id = current.id;
  const pc = new RTCPeerConnection();
  listen.pc = pc;
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addEventListener("track", (e) => {
    const stream = e.streams[0] || new MediaStream([e.track]);
    $("audio").srcObject = stream;
    $("audio").play().catch(() => {});
    startMeter(stream);
  });
  pc.addEventListener("connectionstatechange", () => {
    $("listen-status").textContent = pc.connectionState;
    if (pc.connectionState === "failed") stopListening();
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await api("/whep/calls/" + encodeURIComponent(id), {
    method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
  });
  if (res.status !== 201) {
    const retry = res.headers.get("Retry-After");
    stopListening();
    $("listen-status").textContent = "cannot listen: HTTP " + res.status + (retry ? ", try again in " + retry + " s" : "");
    return;
  }
  listen.session = res.headers.get("Location") || "";
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
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
window.iace = { stats };

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
    await fetch(API + "/auth/logout", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: auth.refresh }),
    }).catch(() => {});
    loggedOut();
  });
  $("listen").addEventListener("click", () => {
    if (listen.pc) stopListening();
    else startListening().catch((e) => { stopListening(); $("listen-status").textContent = e.message; });
  });
  $("more-calls").addEventListener("click", () => loadPast(true));
  // A reload keeps the login for as long as the refresh token lives.
  refresh().then(loggedIn).catch(loggedOut);
});
