// The school console (/console?token=…): live rooms, one-click calls with a QR code, the
// schedule, invite links. Every right is the server's: this page shows what it answers.

import qrcode from "/static/node_modules/qrcode-generator/dist/qrcode.mjs";
import { $, clear, h } from "./dom.js";
import { lang, localize, pickLanguage, setLanguage, t } from "./i18n/index.js";

const token = new URLSearchParams(window.location.search).get("token") || sessionStorage.getItem("urok:console-token");
if (token) sessionStorage.setItem("urok:console-token", token);

/** @param {string} path @param {RequestInit} [init] */
async function api(path, init = {}) {
  const resp = await fetch(path, { ...init, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } });
  const body = resp.status === 204 ? {} : await resp.json().catch(() => ({}));
  if (!resp.ok) {
    $("console-message").textContent = t("console.failed", { code: body.error ? body.error.code : resp.status });
    throw new Error(String(resp.status));
  }
  $("console-message").textContent = "";
  return body;
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
  $("copy-link").onclick = () => navigator.clipboard && navigator.clipboard.writeText(link).catch(() => {});
  drawQr(link);
  $("new-call-result").hidden = false;
  refresh();
}

/** @param {any} room */
function roomRow(room) {
  const when = room.scheduled_start ? new Date(room.scheduled_start * 1000).toLocaleString(lang()) : "";
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

/** A broadcast with its viewer link, state, viewers and questions (admins only). @param {any} room */
async function broadcastRow(room) {
  const state = await fetch(`/api/broadcasts/${room.id}`).then((r) => r.json());
  const { questions } = await api(`/api/broadcasts/${room.id}/questions`);
  const link = `${window.location.origin}/b/${room.id}`;
  const li = h(
    "li",
    { "data-status": state.status },
    h("div", { class: "meta" }, h("strong", {}, room.title), h("span", {}, [t(`console.bcStatus.${state.status}`), t("console.bcViewers", { count: state.viewers }), t("console.bcQuestions", { count: questions.length })].join(" · ")), h("span", {}, `${t("console.bcLink")}: `, h("a", { href: link }, link))),
    h("a", { href: `/r/${room.id}?token=${encodeURIComponent(token || "")}`, "aria-label": `${t("console.enterHost")}: ${room.title}` }, t("console.enterHost")),
  );
  if (state.status !== "ended") {
    li.append(h("button", { type: "button", "aria-label": `${t("console.bcEnd")}: ${room.title}`, onclick: () => api(`/api/rooms/${room.id}/end`, { method: "POST" }).then(refresh) }, t("console.bcEnd")));
  }
  return li;
}

async function createBroadcast(event) {
  event.preventDefault();
  const title = /** @type {HTMLInputElement} */ ($("bc-title")).value;
  await api("/api/rooms", { method: "POST", body: JSON.stringify({ title, kind: "broadcast", settings: { waiting_room: false } }) });
  refresh();
}

async function refresh() {
  const { rooms } = await api("/api/rooms");
  const admin = isAdmin();
  $("broadcasts").hidden = !admin;
  const bcList = $("bc-list");
  clear(bcList);
  if (admin) {
    for (const room of rooms.filter((r) => r.kind === "broadcast")) bcList.append(await broadcastRow(room));
  }
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
  refresh().catch(() => {});
}
