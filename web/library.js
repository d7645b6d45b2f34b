// The school's video library (/library?token=…): recordings the token may see, with a picture,
// playback (hls.js), MP4 download, and rename / delete where the server says `can_manage`.
// The server decides every right; this page only shows what it answers.

import Hls from "/static/node_modules/hls.js/dist/hls.mjs";
import { $, clear, h } from "./dom.js";
import { clock, pickLanguage, setLanguage, t } from "./i18n/index.js";

const token = new URLSearchParams(window.location.search).get("token") || sessionStorage.getItem("urok:library-token");
if (token) sessionStorage.setItem("urok:library-token", token);
/** @type {Hls | null} */
let hls = null;

/** @param {string} path @param {RequestInit} [init] */
function api(path, init = {}) {
  return fetch(path, { ...init, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } });
}

/** @param {number} seconds */
function duration(seconds) {
  const s = Math.round(seconds);
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${Math.floor(s / 60)}:${ss}`;
}

/** @param {string} playlist */
function play(playlist) {
  const video = /** @type {HTMLVideoElement} */ ($("library-player"));
  video.hidden = false;
  if (hls) hls.destroy();
  if (Hls.isSupported()) {
    hls = new Hls();
    hls.loadSource(playlist);
    hls.attachMedia(video);
  } else {
    video.src = playlist;
  }
  video.play().catch(() => {});
}

/** @param {any} rec */
function row(rec) {
  const q = `?token=${encodeURIComponent(token || "")}`;
  const title = h("strong", {}, rec.title || rec.id);
  const status = rec.status === "complete" ? "" : t(`library.${rec.status}`);
  const meta = h(
    "div",
    { class: "meta" },
    title,
    h("span", {}, `${clock(rec.created_at)} · ${t("library.duration", { time: duration(rec.duration_s) })} · ${t("library.size", { mb: (rec.size_bytes / 1e6).toFixed(1) })}`),
    status ? h("span", {}, status) : "",
  );
  const actions = h(
    "div",
    { class: "actions" },
    h("button", { type: "button", "aria-label": `${t("library.play")}: ${rec.title}`, onclick: () => play(rec.playlist) }, t("library.play")),
    h("a", { href: rec.download + q, download: "", "aria-label": `${t("library.download")}: ${rec.title}` }, t("library.download")),
  );
  if (rec.can_manage) {
    actions.append(
      h("button", { type: "button", "aria-label": `${t("library.rename")}: ${rec.title}`, onclick: () => rename(rec) }, t("library.rename")),
      h("button", { type: "button", "aria-label": `${t("library.delete")}: ${rec.title}`, onclick: () => remove(rec) }, t("library.delete")),
    );
  }
  const img = h("img", { src: rec.thumbnail + q, alt: t("library.thumb", { title: rec.title }), loading: "lazy" });
  return h("li", {}, img, meta, actions);
}

/** @param {any} rec */
async function rename(rec) {
  const title = window.prompt(t("library.renamePrompt"), rec.title);
  if (!title) return;
  const resp = await api(`/api/library/${encodeURIComponent(rec.id)}`, { method: "PATCH", body: JSON.stringify({ title }) });
  if (resp.ok) load();
  else $("library-message").textContent = t("library.error", { code: resp.status });
}

/** @param {any} rec */
async function remove(rec) {
  const resp = await api(`/api/library/${encodeURIComponent(rec.id)}`, { method: "DELETE" });
  if (resp.ok) load();
  else $("library-message").textContent = t("library.error", { code: resp.status });
}

async function load() {
  const list = $("library-list");
  clear(list);
  if (!token) {
    $("library-message").textContent = t("library.noToken");
    return;
  }
  const resp = await api("/api/library");
  if (!resp.ok) {
    $("library-message").textContent = t("library.error", { code: resp.status });
    return;
  }
  const { recordings } = await resp.json();
  $("library-message").textContent = recordings.length ? "" : t("library.empty");
  for (const rec of recordings) list.append(row(rec));
}

setLanguage(pickLanguage());
const select = /** @type {HTMLSelectElement} */ ($("lang-select"));
select.value = document.documentElement.lang;
select.addEventListener("change", () => {
  setLanguage(select.value, true);
  load();
});
load();
