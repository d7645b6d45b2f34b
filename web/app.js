// Entry point of /r/{room}: picks the language, shows the join page (or rejoins at once after a
// reload, with the resume key), and switches screens as the client's phase changes.

import { $ } from "./dom.js";
import { t, setLanguage, pickLanguage, lang } from "./i18n/index.js";
import { Client, store } from "./client.js";
import { Call } from "./call.js";
import { JoinPage, errorText } from "./join.js";
import { openDevices } from "./media.js";
import { initPrompt, toast } from "./ui.js";
import { fillIcons } from "./icons.js";

/** The waiting-room place last shown (0: none), kept to re-translate it. */
let waitingShown = 0;

const SCREENS = ["screen-join", "screen-waiting", "screen-message", "screen-call"];

/** @param {string} id */
function show(id) {
  $("loading").hidden = true;
  for (const screen of SCREENS) $(screen).hidden = screen !== id;
  document.body.dataset.screen = id;
}

function roomFromPath() {
  const match = window.location.pathname.match(/\/r\/([^/]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function main() {
  setLanguage(pickLanguage());
  fillIcons(document);
  initPrompt();
  const select = /** @type {HTMLSelectElement} */ ($("lang-select"));
  select.value = lang();
  select.setAttribute("aria-label", t("lang.label"));
  select.addEventListener("change", () => {
    setLanguage(select.value, true);
    select.setAttribute("aria-label", t("lang.label"));
    document.dispatchEvent(new Event("urok:language"));
  });
  const room = roomFromPath();
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const client = new Client({ room, token });
  const call = new Call(client);
  const join = new JoinPage({ room, token }, (choice) => client.start(choice));
  wire(client, join);
  document.addEventListener("urok:language", () => {
    if (client.phase === "call") call.relocalize();
    join.relabel();
    const w = waitingShown;
    if (w) $("waiting-position").textContent = t("waiting.position", { position: w });
  });
  // Exposed for tests and the bench (read-only use).
  Object.assign(window, { urok: { client, call } });
  if (!room) {
    message(t("error.no_room"), "");
    return;
  }
  if (store.load(room).resume) rejoin(client);
  else {
    show("screen-join");
    join.show();
  }
}

/** After a reload: back into the room without the join page, devices as chosen before. */
async function rejoin(/** @type {Client} */ client) {
  const prefs = store.load(client.room);
  const local = await openDevices();
  for (const track of local.getAudioTracks()) track.enabled = Boolean(prefs.mic);
  for (const track of local.getVideoTracks()) track.enabled = prefs.camera !== false;
  client.emit("reconnecting", { on: true });
  await client.start({ local });
}

/** @param {Client} client @param {JoinPage} join */
function wire(client, join) {
  client.addEventListener("phase", (e) => {
    const phase = /** @type {CustomEvent} */ (e).detail.phase;
    if (phase === "call") {
      waitingShown = 0;
      $("waiting-position").textContent = "";
      show("screen-call");
    }
    if (phase === "waiting") show("screen-waiting");
  });
  client.addEventListener("waiting", (e) => {
    const { position, title } = /** @type {CustomEvent} */ (e).detail;
    if (title) $("room-title").textContent = title;
    waitingShown = position > 0 ? position : 0;
    $("waiting-position").textContent = position > 0 ? t("waiting.position", { position }) : "";
    $("waiting-leave").focus();
  });
  client.addEventListener("reconnecting", (e) => {
    const on = /** @type {CustomEvent} */ (e).detail.on;
    const status = $("conn-status");
    status.hidden = !on;
    status.textContent = on ? t("conn.reconnecting") : "";
    document.body.classList.toggle("reconnecting", on);
  });
  client.addEventListener("failed", (e) => {
    const { code, message: text } = /** @type {CustomEvent} */ (e).detail;
    client.emit("reconnecting", { on: false });
    show("screen-join");
    join.show({ code, message: text });
  });
  client.addEventListener("ended", (e) => {
    const { kind, banned } = /** @type {CustomEvent} */ (e).detail;
    client.emit("reconnecting", { on: false });
    const key = kind === "removed" && banned ? "banned" : kind;
    message(t(`end.${key}.title`), t(`end.${key}.text`));
  });
  client.addEventListener("problem", (e) => {
    const { code, message: text } = /** @type {CustomEvent} */ (e).detail;
    toast(errorText(code, text));
  });
  $("waiting-leave").addEventListener("click", () => client.leave());
  $("message-again").addEventListener("click", () => {
    show("screen-join");
    join.show();
  });
}

/** @param {string} title @param {string} text */
function message(title, text) {
  $("message-title").textContent = title;
  $("message-text").textContent = text;
  show("screen-message");
  $("message-again").focus();
}

main();
