// The school console (/console?token=…): live rooms, one-click calls with a QR code, the
// schedule, a calendar (.ics) link, broadcasts (administrators), invite links. Every right is
// the server's: this page shows what it answers and tells a refusal in words.

import qrcode from "/static/node_modules/qrcode-generator/dist/qrcode.mjs";
import { $, clear, h } from "./dom.js";
import { has, lang, localize, pickLanguage, setLanguage, t } from "./i18n/index.js";

const POLL_MS = 5000;

const token = new URLSearchParams(window.location.search).get("token") || sessionStorage.getItem("urok:console-token");
if (token) sessionStorage.setItem("urok:console-token", token);

/** A refusal or failure in words. @param {string} code */
function reason(code) {
  return has(`console.error.${code}`) ? t(`console.error.${code}`) : t("console.failed", { code });
}

/**
 * Call the REST API with the console's token; a refusal is told in ``out`` (the message next to
 * the section that asked) and thrown. @param {string} path @param {RequestInit} [init]
 * @param {string} [out] id of the message element @param {boolean} [clears] success clears it
 */
async function api(path, init = {}, out = "console-message", clears = true) {
  let resp;
  try {
    resp = await fetch(path, { ...init, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } });
  } catch {
    $(out).textContent = reason("network");
    throw new Error("network");
  }
  const body = resp.status === 204 ? {} : await resp.json().catch(() => ({}));
  if (!resp.ok) {
    $(out).textContent = reason(body.error ? body.error.code : String(resp.status));
    throw new Error(String(resp.status));
  }
  if (clears) $(out).textContent = "";
  return body;
}

/** A unix time as the viewer's local date and time. @param {number} seconds */
function localTime(seconds) {
  return new Date(seconds * 1000).toLocaleString(lang(), { dateStyle: "long", timeStyle: "short" });
}

/** A datetime-local field's value as unix seconds, or null when empty. @param {string} id */
function fieldTime(id) {
  const value = /** @type {HTMLInputElement} */ ($(id)).value;
  return value ? new Date(value).getTime() / 1000 : null;
}

/** Unix seconds as a datetime-local value in the viewer's zone. @param {number} seconds */
function fieldValue(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * Copy ``text``; without the clipboard (plain http), select it in ``field`` for Ctrl+C.
 * @param {string} text @param {HTMLInputElement | null} field @param {HTMLElement} note
 */
async function copy(text, field, note) {
  try {
    await navigator.clipboard.writeText(text);
    note.textContent = t("console.copied");
  } catch {
    field?.select();
    note.textContent = field ? t("console.copyByHand") : "";
  }
}

/** Draw a QR code of ``text`` as SVG elements (no HTML strings). @param {string} text */
function drawQr(text) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `-2 -2 ${n + 4} ${n + 4}`);
  svg.setAttribute("width", "192");
  svg.setAttribute("height", "192");
  const bg = document.createElementNS(ns, "rect");
  for (const [k, v] of [["x", "-2"], ["y", "-2"], ["width", String(n + 4)], ["height", String(n + 4)], ["fill", "#fff"]]) bg.setAttribute(k, v);
  svg.append(bg);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (!qr.isDark(r, c)) continue;
      const cell = document.createElementNS(ns, "rect");
      for (const [k, v] of [["x", String(c)], ["y", String(r)], ["width", "1"], ["height", "1"]]) cell.setAttribute(k, v);
      svg.append(cell);
    }
  }
  const box = $("call-qr");
  clear(box);
  box.append(svg);
}

async function newCall() {
  const body = { title: `${t("console.purpose.lesson")} ${new Date().toLocaleDateString()}`, settings: { waiting_room: true, guests_allowed: false, mute_on_entry: true } };
  const room = await api("/api/rooms", { method: "POST", body: JSON.stringify(body) });
  const link = `${window.location.origin}/r/${room.id}`;
  const a = /** @type {HTMLAnchorElement} */ ($("call-link"));
  a.href = link;
  a.textContent = link;
  /** @type {HTMLAnchorElement} */ ($("enter-host")).href = `/r/${room.id}?token=${encodeURIComponent(token || "")}`;
  $("copy-link").onclick = () => copy(link, null, $("console-message"));
  drawQr(link);
  $("new-call-result").hidden = false;
  refresh();
}

/** @param {any} room */
function roomRow(room) {
  const when = room.scheduled_start ? localTime(room.scheduled_start) : "";
  return h(
    "li",
    {},
    h("div", { class: "meta" }, h("strong", {}, room.title), h("span", {}, [when, room.group || "", t(`console.purpose.${room.purpose}`), t("console.people", { count: room.participants })].filter(Boolean).join(" · "))),
    h("a", { href: `/r/${room.id}?token=${encodeURIComponent(token || "")}`, "aria-label": `${t("console.enterHost")}: ${room.title}` }, t("console.enterHost")),
  );
}

/** @param {any} invite */
function inviteRow(invite) {
  const li = h(
    "li",
    { "data-state": invite.state },
    h("div", { class: "meta" }, h("a", { href: invite.url }, invite.url), h("span", {}, [t(`role.${invite.role}`), invite.group, t("console.inviteUsesOf", { uses: invite.uses, max: invite.max_uses }), t(`console.invite.${invite.state}`)].filter(Boolean).join(" · "))),
  );
  if (invite.state === "active") {
    li.append(h("button", { type: "button", "aria-label": `${t("console.revoke")}: ${invite.url}`, onclick: () => api(`/api/invites/${invite.id}`, { method: "DELETE" }).then(refresh) }, t("console.revoke")));
  }
  return li;
}

/** The live line of each broadcast row, by room id (updated in place by the poll). */
const bcStats = new Map();

/** Status, viewers and questions of a broadcast, as one line. @param {string} id */
async function broadcastStats(id) {
  const state = await fetch(`/api/broadcasts/${id}`, { cache: "no-store" }).then((r) => r.json());
  // a background read: it tells a failure but does not wipe a refusal still being read
  const { questions } = await api(`/api/broadcasts/${id}/questions`, {}, "bc-message", false);
  const text = [t(`console.bcStatus.${state.status}`), t("console.bcViewers", { count: state.viewers }), t("console.bcQuestions", { count: questions.length })].join(" · ");
  return { state, text };
}

/**
 * Change or clear a broadcast's start (PATCH; null clears). @param {string} id
 * @param {number | null} start
 */
async function reschedule(id, start) {
  await api(`/api/rooms/${id}`, { method: "PATCH", body: JSON.stringify({ scheduled_start: start }) }, "bc-message");
  refresh();
}

/** The form that moves or clears a broadcast's start. @param {any} room */
function startForm(room) {
  const field = h("input", { type: "datetime-local", class: "bc-new-start", value: room.scheduled_start ? fieldValue(room.scheduled_start) : null, "aria-label": `${t("console.bcNewStart")}: ${room.title}` });
  const save = (/** @type {Event} */ e) => {
    e.preventDefault();
    const value = /** @type {HTMLInputElement} */ (field).value;
    if (value) reschedule(room.id, new Date(value).getTime() / 1000).catch(() => {});
  };
  const form = h("form", { class: "bc-when", onsubmit: save }, field, h("button", { type: "submit", "aria-label": `${t("console.bcSaveStart")}: ${room.title}` }, t("console.bcSaveStart")));
  if (room.scheduled_start) {
    form.append(h("button", { type: "button", "aria-label": `${t("console.bcClearStart")}: ${room.title}`, onclick: () => reschedule(room.id, null).catch(() => {}) }, t("console.bcClearStart")));
  }
  return form;
}

/** A broadcast with its viewer link, start, state, viewers and questions (admins only). @param {any} room */
async function broadcastRow(room) {
  const { state, text } = await broadcastStats(room.id);
  const link = `${window.location.origin}/b/${room.id}`;
  const stats = h("span", { class: "bc-stats" }, text);
  bcStats.set(room.id, stats);
  const when = room.scheduled_start ? t("console.bcStartsAt", { time: localTime(room.scheduled_start) }) : t("console.bcNoSchedule");
  const hosted = `?token=${encodeURIComponent(token || "")}`;
  return h(
    "li",
    { "data-status": state.status, "data-id": room.id },
    h("div", { class: "meta" }, h("strong", {}, room.title), h("span", { class: "bc-start" }, when), stats, h("span", { class: "bc-link" }, `${t("console.bcLink")}: `, h("a", { href: link }, link))),
    h(
      "div",
      { class: "actions" },
      h("a", { href: `/r/${room.id}${hosted}`, "aria-label": `${t("console.enterHost")}: ${room.title}` }, t("console.enterHost")),
      h("a", { href: `/b/${room.id}${hosted}`, target: "_blank", rel: "noopener", class: "bc-moderate", "aria-label": `${t("console.bcModerate")}: ${room.title}` }, t("console.bcModerate")),
      startForm(room),
      h("button", { type: "button", "aria-label": `${t("console.bcEnd")}: ${room.title}`, onclick: () => api(`/api/rooms/${room.id}/end`, { method: "POST" }, "bc-message").then(refresh) }, t("console.bcEnd")),
    ),
  );
}

/** Keep each broadcast's status, viewers and question count live; an ended one leaves the list. */
async function pollBroadcasts() {
  if (!document.hidden) {
    for (const [id, stats] of bcStats) {
      const { state, text } = await broadcastStats(id);
      if (state.status === "ended") return refresh();
      stats.textContent = text;
      stats.closest("li")?.setAttribute("data-status", state.status);
    }
  }
}

function schedulePoll() {
  setTimeout(() => pollBroadcasts().catch(() => {}).finally(schedulePoll), POLL_MS);
}

async function createBroadcast(event) {
  event.preventDefault();
  const title = /** @type {HTMLInputElement} */ ($("bc-title")).value;
  const start = fieldTime("bc-start");
  /** @type {Record<string, any>} */
  const body = { title, kind: "broadcast", purpose: "event", settings: { waiting_room: false } };
  if (start !== null) {
    body.scheduled_start = start;
    body.duration_s = Number(/** @type {HTMLInputElement} */ ($("bc-minutes")).value) * 60;
  }
  await api("/api/rooms", { method: "POST", body: JSON.stringify(body) }, "bc-message");
  refresh();
}

async function refresh() {
  const { rooms } = await api("/api/rooms");
  const admin = isAdmin();
  $("broadcasts").hidden = !admin;
  const bcList = $("bc-list");
  bcStats.clear();
  const rows = admin ? await Promise.all(rooms.filter((r) => r.kind === "broadcast").map(broadcastRow)) : [];
  bcList.replaceChildren(...rows);
  const live = $("live-list");
  const schedule = $("schedule-list");
  clear(live);
  clear(schedule);
  for (const room of rooms) {
    if (room.participants > 0) live.append(roomRow(room));
    if (room.scheduled_start) schedule.append(roomRow(room));
  }
  const { invites } = await api("/api/invites");
  const list = $("invite-list");
  clear(list);
  for (const invite of invites) list.append(inviteRow(invite));
}

async function createEvent(event) {
  event.preventDefault();
  const start = new Date(/** @type {HTMLInputElement} */ ($("event-start")).value).getTime() / 1000;
  const body = {
    title: /** @type {HTMLInputElement} */ ($("event-title")).value,
    group: /** @type {HTMLInputElement} */ ($("event-group")).value || null,
    scheduled_start: start,
    duration_s: Number(/** @type {HTMLInputElement} */ ($("event-minutes")).value) * 60,
    purpose: /** @type {HTMLSelectElement} */ ($("event-purpose")).value,
  };
  await api("/api/rooms", { method: "POST", body: JSON.stringify(body) });
  refresh();
}

async function createInvite(event) {
  event.preventDefault();
  const body = {
    role: /** @type {HTMLSelectElement} */ ($("invite-role")).value,
    group: /** @type {HTMLInputElement} */ ($("invite-group")).value || null,
    max_uses: Number(/** @type {HTMLInputElement} */ ($("invite-uses")).value),
    expires_in_s: Number(/** @type {HTMLInputElement} */ ($("invite-days")).value) * 86400,
  };
  await api("/api/invites", { method: "POST", body: JSON.stringify(body) });
  refresh();
}

/** The calendar choices that make sense for the role: a teacher's own or a class; an admin's school or a class. */
function calendarChoices() {
  const admin = isAdmin();
  for (const option of /** @type {HTMLSelectElement} */ ($("cal-scope")).querySelectorAll("option")) {
    if (option.value === (admin ? "own" : "school")) option.remove();
  }
  showCalendarGroup();
}

function showCalendarGroup() {
  const group = /** @type {HTMLSelectElement} */ ($("cal-scope")).value === "group";
  $("cal-group-label").hidden = !group;
  /** @type {HTMLInputElement} */ ($("cal-group")).required = group;
}

async function calendarLink(event) {
  event.preventDefault();
  const scope = /** @type {HTMLSelectElement} */ ($("cal-scope")).value;
  const body = scope === "group" ? { group: /** @type {HTMLInputElement} */ ($("cal-group")).value.trim() } : {};
  const feed = await api("/api/calendar/link", { method: "POST", body: JSON.stringify(body) }, "cal-message");
  const field = /** @type {HTMLInputElement} */ ($("cal-url"));
  field.value = feed.url;
  $("cal-note").textContent = t("console.calExpires", { date: new Date(feed.expires_at * 1000).toLocaleDateString(lang()) });
  $("cal-copy").onclick = () => copy(feed.url, field, $("cal-note"));
  $("cal-result").hidden = false;
}

/** Whether the token is an administrator's (the server still decides every action). */
function isAdmin() {
  try {
    const payload = JSON.parse(atob((token || "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.role === "admin";
  } catch {
    return false;
  }
}

setLanguage(pickLanguage());
const select = /** @type {HTMLSelectElement} */ ($("lang-select"));
select.value = document.documentElement.lang;
select.addEventListener("change", () => {
  setLanguage(select.value, true);
  localize(document);
  refresh();
});
if (!token) {
  $("console-message").textContent = t("console.noToken");
} else {
  /** @type {HTMLAnchorElement} */ ($("library-link")).href = `/library?token=${encodeURIComponent(token)}`;
  $("new-call").addEventListener("click", () => newCall().catch(() => {}));
  $("event-form").addEventListener("submit", (e) => createEvent(e).catch(() => {}));
  $("invite-form").addEventListener("submit", (e) => createInvite(e).catch(() => {}));
  $("bc-form").addEventListener("submit", (e) => createBroadcast(e).catch(() => {}));
  $("cal-form").addEventListener("submit", (e) => calendarLink(e).catch(() => {}));
  $("cal-scope").addEventListener("change", showCalendarGroup);
  calendarChoices();
  refresh().catch(() => {});
  schedulePoll();
}
