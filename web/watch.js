// The broadcast viewer page (/b/{id}): plays the composite HLS with hls.js — live while on air,
// and the recording from the start at the same link after the end. Viewers are counted by a
// heartbeat over HTTP; no signaling connection. Q&A (and its moderation by hosts) is qa.js.
// All text comes from the catalogues.

import Hls from "/static/node_modules/hls.js/dist/hls.mjs";
import { $ } from "./dom.js";
import { clock, localize, pickLanguage, setLanguage, t } from "./i18n/index.js";
import { QuestionBoard } from "./qa.js";

const HEARTBEAT_MS = 20000;
const POLL_MS = 5000;
const roomId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean)[1] || "");
const token = new URLSearchParams(window.location.search).get("token") || sessionStorage.getItem("urok:watch-token");
if (token) sessionStorage.setItem("urok:watch-token", token);

/** A random viewer id kept in this browser, so a reload is not a second viewer. */
function viewerId() {
  let id = localStorage.getItem("urok:viewer");
  if (!id) {
    id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("urok:viewer", id);
  }
  return id;
}

/** @type {{status: string, playlist: string} | null} */
let shown = null;
/** Low-latency viewing over WHEP (sub-second, from the SFU) instead of HLS, while live. */
const lowLatency = { on: false, /** @type {RTCPeerConnection|null} */ pc: null, location: "" };
/** @type {Hls | null} */
let hls = null;
const board = new QuestionBoard(roomId, token);

function headers() {
  /** @type {Record<string, string>} */
  const h = { "Content-Type": "application/json" };
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

/** @param {string} key @param {Record<string, string|number>} [params] */
function message(key, params) {
  $("watch-message").textContent = key ? t(key, params) : "";
}

/** @param {any} state */
function render(state) {
  document.title = state.title;
  $("watch-title").textContent = state.title;
  const status = $("watch-status");
  status.textContent = t(`watch.${state.status}`);
  status.classList.toggle("live", state.status === "live");
  $("watch-viewers").textContent = t("watch.viewers", { count: state.viewers });
  if (state.status === "waiting" && state.scheduled_start) {
    message("watch.starts", { time: clock(state.scheduled_start) });
  } else {
    message("");
  }
  const button = $("watch-lowlat");
  button.hidden = state.status !== "live" || !window.RTCPeerConnection;
  if (state.status !== "live" && lowLatency.on) stopLowLatency();
  if (state.status !== "waiting" && !lowLatency.on && (!shown || shown.status !== state.status)) {
    play(state);
  }
  shown = { status: state.status, playlist: state.playlist };
}

/** Attach the stream; after the end the same playlist is the recording (VOD, seekable). */
function play(state) {
  const video = /** @type {HTMLVideoElement} */ ($("watch-video"));
  if (hls) hls.destroy();
  hls = null;
  if (Hls.isSupported()) {
    hls = new Hls({ lowLatencyMode: state.status === "live" });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) {
        message("watch.error");
        setTimeout(() => play(state), 2000);
      }
    });
    hls.loadSource(state.playlist);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = state.playlist;
  }
  video.play().catch(() => {});
}

/** Switch to WHEP: the SFU sends the stage (screen or speaker, loudest voice) straight to this
 * page. A full or failed session falls back to HLS with a message. */
async function startLowLatency() {
  const pc = new RTCPeerConnection();
  lowLatency.pc = pc;
  lowLatency.on = true;
  $("watch-lowlat").setAttribute("aria-pressed", "true");
  const stream = new MediaStream();
  pc.ontrack = (e) => stream.addTrack(e.track);
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  try {
    await pc.setLocalDescription(await pc.createOffer());
    /** @type {Record<string, string>} */
    const h = { "Content-Type": "application/sdp" };
    if (token) h.Authorization = `Bearer ${token}`;
    const resp = await fetch(`/whep/${encodeURIComponent(roomId)}`, {
      method: "POST",
      headers: h,
      body: /** @type {string} */ (pc.localDescription?.sdp),
    });
    if (!resp.ok) throw new Error(resp.status === 503 ? "full" : "failed");
    lowLatency.location = resp.headers.get("Location") || "";
    await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
  } catch (err) {
    stopLowLatency();
    message(err instanceof Error && err.message === "full" ? "watch.lowLatencyFull" : "watch.lowLatencyFailed");
    return;
  }
  if (hls) hls.destroy();
  hls = null;
  const video = /** @type {HTMLVideoElement} */ ($("watch-video"));
  video.removeAttribute("src");
  video.srcObject = stream;
  video.play().catch(() => {});
}

/** Back to HLS; ends the WHEP session on the server. */
function stopLowLatency() {
  const { pc, location } = lowLatency;
  lowLatency.on = false;
  lowLatency.pc = null;
  lowLatency.location = "";
  $("watch-lowlat").setAttribute("aria-pressed", "false");
  if (location) fetch(location, { method: "DELETE", keepalive: true }).catch(() => {});
  if (pc) pc.close();
  const video = /** @type {HTMLVideoElement} */ ($("watch-video"));
  if (video.srcObject) video.srcObject = null;
  if (shown && shown.status !== "waiting") play(shown);
}

async function heartbeat() {
  const resp = await fetch(`/api/broadcasts/${encodeURIComponent(roomId)}/viewers`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({ viewer: viewerId() }),
  });
  if (resp.status === 401) {
    message("watch.registration");
    return false;
  }
  if (resp.status === 404) {
    message("watch.notFound");
    return false;
  }
  if (resp.ok) render(await resp.json());
  return resp.ok;
}

async function poll() {
  try {
    const resp = await fetch(`/api/broadcasts/${encodeURIComponent(roomId)}`);
    if (resp.ok) render(await resp.json());
  } catch {
    message("watch.error");
  }
}

async function start() {
  setLanguage(pickLanguage());
  const select = /** @type {HTMLSelectElement} */ ($("lang-select"));
  select.value = document.documentElement.lang;
  select.addEventListener("change", () => {
    setLanguage(select.value, true);
    localize(document);
    board.redraw();
    if (shown) poll();
  });
  $("watch-lowlat").addEventListener("click", () => {
    if (lowLatency.on) stopLowLatency();
    else startLowLatency();
  });
  window.addEventListener("pagehide", () => {
    if (lowLatency.location) fetch(lowLatency.location, { method: "DELETE", keepalive: true }).catch(() => {});
  });
  if (!(await heartbeat().catch(() => false))) return;
  board.start();
  setInterval(() => heartbeat().catch(() => {}), HEARTBEAT_MS);
  setInterval(poll, POLL_MS);
}

start();
