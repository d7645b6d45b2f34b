// The lesson screen around the grid: toolbar (mic, camera, screen, hand, panels, leave),
// keyboard shortcuts, the side panel, "please unmute" prompts and the network indicator.

import { $ } from "./dom.js";
import { t } from "./i18n/index.js";
import { Grid } from "./grid.js";
import { People } from "./people.js";
import { Chat } from "./chat.js";
import { store } from "./client.js";
import { confirmBox, toast } from "./ui.js";

/** @typedef {import("./client.js").Client} Client */
/** @typedef {import("./protocol.js").Source} Source */

const SPEAKING_LEVEL = 0.04;
const SPEAKING_HOLD_MS = 700;
const SHORTCUTS = { m: "btn-mic", v: "btn-cam", s: "btn-screen", h: "btn-hand", p: "btn-people", c: "btn-chat", l: "btn-layout" };

export class Call {
  /** @param {Client} client */
  constructor(client) {
    this.client = client;
    this.state = client.state;
    this.grid = new Grid(this.state, () => client.media);
    this.grid.onView = (tiles) => {
      client.conn?.view(tiles).catch(() => {}); // a refusal changes nothing on the page
    };
    this.people = new People(client);
    /** @type {"people"|"chat"|null} */
    this.panel = null;
    this.chat = new Chat(client, () => this.panel === "chat");
    this.busy = false;
    this.lastPanelButton = "";
    this.measuring = false;
    this.applying = false;
    /** @type {Map<string, number>} participant → when last heard above the speaking level */
    this.lastLoud = new Map();
    /** @type {Set<Source>} sources a host asked me to turn on (allowed despite moderation) */
    this.allowed = new Set();
    this.bind();
    window.setInterval(() => this.showQuality(), 5000);
    window.setInterval(() => this.measureSpeaking(), 250);
  }

  bind() {
    const s = this.state;
    s.addEventListener("reset", () => this.onWelcome());
    s.addEventListener("participant", (e) => {
      if (/** @type {CustomEvent} */ (e).detail.id === s.you?.id) this.syncSelf();
    });
    s.addEventListener("room", () => {
      this.renderToolbar();
      this.renderRecording();
    });
    s.addEventListener("tracks", () => this.renderAudio());
    s.addEventListener("hands", (e) => {
      this.renderHand();
      const { lowered, by } = /** @type {CustomEvent} */ (e).detail || {};
      if (lowered && by && lowered === s.you?.id) toast(t("hand.loweredByHost"));
    });
    s.addEventListener("position", () => this.renderHand());
    s.addEventListener("waiting", (e) => {
      if (/** @type {CustomEvent} */ (e).detail.joined && s.moderator && this.panel !== "people") {
        $("btn-people").classList.add("attention");
      }
    });
    this.client.addEventListener("media", () => this.onMedia());
    this.client.addEventListener("unmute_requested", (e) => this.askedToUnmute(/** @type {CustomEvent} */ (e).detail));
    $("btn-mic").addEventListener("click", () => this.toggle("mic"));
    $("btn-cam").addEventListener("click", () => this.toggle("camera"));
    $("btn-screen").addEventListener("click", () => this.toggleScreen());
    $("btn-hand").addEventListener("click", () => this.toggleHand());
    $("btn-people").addEventListener("click", () => this.openPanel("people"));
    $("btn-chat").addEventListener("click", () => this.openPanel("chat"));
    for (const id of ["btn-people", "btn-chat"]) {
      $(id).addEventListener("click", () => (this.lastPanelButton = id));
    }
    $("tab-people").addEventListener("click", () => this.openPanel("people", true));
    $("tab-chat").addEventListener("click", () => this.openPanel("chat", true));
    $("side-close").addEventListener("click", () => this.openPanel(null));
    for (const [id, other, panel] of /** @type {const} */ ([["tab-people", "tab-chat", "chat"], ["tab-chat", "tab-people", "people"]])) {
      $(id).addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
        if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
        e.preventDefault();
        this.openPanel(panel, true); // two tabs: either arrow goes to the other one
        $(other).focus();
      });
    }
    $("btn-layout").addEventListener("click", () => this.toggleLayout());
    $("btn-leave").addEventListener("click", () => this.client.leave());
    document.addEventListener("keydown", (e) => this.shortcut(e));
    // Single-key shortcuts can get in the way of speech input: they can be turned off (kept).
    const keys = /** @type {HTMLInputElement} */ ($("keys-on"));
    keys.checked = window.localStorage.getItem("urok:keys") !== "off";
    keys.addEventListener("change", () => window.localStorage.setItem("urok:keys", keys.checked ? "on" : "off"));
    $("side").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
      if (e.key === "Escape" && !(/** @type {HTMLElement} */ (e.target)).closest("[role=menu]")) {
        this.openPanel(null);
        $(this.lastPanelButton || "btn-people").focus();
      }
    });
  }

  /** "Идёт запись" for everyone while the room records. */
  renderRecording() {
    $("recording-mark").hidden = !this.state.room?.recording;
  }

  onWelcome() {
    const title = this.state.room?.title || "";
    $("room-title").textContent = title || "urok";
    document.title = title ? `${title} — urok` : "urok";
    this.grid.sentView = ""; // a new connection: tell the server what is on the page again
    this.grid.render();
    this.renderToolbar();
    this.renderHand();
    this.renderRecording();
    this.applyPrefs();
  }

  /** Redraw every view in the newly chosen language (no request is sent). */
  relocalize() {
    this.grid.render();
    this.people.renderAll();
    this.chat.renderAll();
    this.renderToolbar();
    this.renderHand();
  }

  onMedia() {
    const media = this.client.media;
    if (!media) return;
    media.addEventListener("change", () => {
      this.grid.refresh();
      this.renderAudio();
    });
    media.addEventListener("screen_ended", () => this.stopScreen());
    this.grid.refresh();
  }

  /** Play every remote microphone through its own audio element. */
  renderAudio() {
    const media = this.client.media;
    const box = $("remote-audio");
    if (!media) return;
    const want = new Map();
    for (const view of this.state.tracks) {
      const stream = view.source === "mic" ? media.remote.get(view.mid) : null;
      if (stream) want.set(view.mid, stream);
    }
    for (const el of [...box.children]) {
      if (!want.has(el.dataset.mid)) el.remove();
    }
    for (const [mid, stream] of want) {
      let audio = /** @type {HTMLAudioElement|null} */ (box.querySelector(`[data-mid="${CSS.escape(mid)}"]`));
      if (!audio) {
        audio = document.createElement("audio");
        audio.autoplay = true;
        audio.dataset.mid = mid;
        box.append(audio);
      }
      if (audio.srcObject !== stream) audio.srcObject = stream; // mids repeat after a reconnect
    }
  }

  /** After (re)joining: turn on what the person chose on the join page, if allowed. */
  async applyPrefs() {
    this.applying = true;
    try {
      await this.restore();
    } finally {
      this.applying = false;
    }
  }

  async restore() {
    const prefs = store.load(this.client.room);
    if (this.state.you?.media.screen && !this.client.media?.screen) {
      await this.client.ask((c) => c.setMedia("screen", false)); // the share did not survive a reload
    }
    const want = { mic: Boolean(prefs.mic), camera: prefs.camera !== false };
    for (const source of /** @type {const} */ (["mic", "camera"])) {
      const you = this.state.you;
      if (!you) return;
      if (you.media[source] === want[source]) {
        await this.client.media?.setEnabled(source, want[source]).catch(() => {});
        continue;
      }
      await this.setSource(source, want[source]);
    }
  }

  /** Locked: a host muted it, participants may not unmute, and nobody asked me to. @param {Source} source */
  locked(source) {
    const you = this.state.you;
    const room = this.state.room;
    if (!you || !room || room.participants_may_unmute || this.state.moderator) return false;
    return you.media.blocked.includes(source) && !this.allowed.has(source);
  }

  /** @param {"mic"|"camera"} source */
  async toggle(source) {
    const you = this.state.you;
    if (!you || this.busy) return;
    const on = !you.media[source];
    store.save(this.client.room, { [source]: on });
    await this.setSource(source, on);
  }

  /** The server decides first (it enforces moderation); then the local track follows. */
  async setSource(/** @type {"mic"|"camera"} */ source, /** @type {boolean} */ on) {
    this.busy = true;
    try {
      const ok = await this.client.ask((c) => c.setMedia(source, on));
      if (!ok) return;
      try {
        await this.client.media?.setEnabled(source, on);
        if (on) this.allowed.delete(source);
      } catch {
        toast(t(source === "mic" ? "self.noMic" : "self.noCamera"));
        await this.client.ask((c) => c.setMedia(source, false));
      }
    } finally {
      this.busy = false;
      this.renderToolbar();
    }
  }

  /** The server's view of me changed (a host muted me, I was promoted...): follow it. */
  syncSelf() {
    const you = this.state.you;
    const media = this.client.media;
    if (!you) return;
    // What the server says is what a reconnect restores: a host's mute is not undone by it.
    if (!this.applying) store.save(this.client.room, { mic: you.media.mic, camera: you.media.camera });
    if (media && !this.busy) {
      if (!you.media.mic) media.setEnabled("mic", false).catch(() => {});
      if (!you.media.camera) media.setEnabled("camera", false).catch(() => {});
      if (!you.media.screen && media.screen) media.stopScreen().catch(() => {});
    }
    this.renderToolbar();
  }

  async toggleScreen() {
    const you = this.state.you;
    const media = this.client.media;
    if (!you || !media) return;
    if (you.media.screen || media.screen) {
      await this.stopScreen();
      return;
    }
    try {
      await media.startScreen();
    } catch {
      return; // the person closed the picker
    }
    const ok = await this.client.ask((c) => c.setMedia("screen", true));
    if (!ok) await media.stopScreen();
    this.renderToolbar();
  }

  async stopScreen() {
    await this.client.media?.stopScreen();
    if (this.state.you?.media.screen) await this.client.ask((c) => c.setMedia("screen", false));
    this.renderToolbar();
  }

  async toggleHand() {
    const you = this.state.you;
    if (!you) return;
    if (you.hand !== null || this.state.handPosition !== null) {
      await this.client.ask((c) => c.lowerHand());
    } else {
      await this.client.ask((c) => c.raiseHand());
    }
  }

  renderToolbar() {
    const you = this.state.you;
    if (!you) return;
    /** @type {[string, boolean, boolean][]} */
    const buttons = [
      ["btn-mic", you.media.mic, this.locked("mic")],
      ["btn-cam", you.media.camera, this.locked("camera")],
      ["btn-screen", you.media.screen || Boolean(this.client.media?.screen), false],
    ];
    for (const [id, on, locked] of buttons) {
      const b = $(id);
      b.setAttribute("aria-pressed", String(on));
      b.setAttribute("aria-disabled", String(locked));
      b.classList.toggle("off", !on);
      b.classList.toggle("locked", locked);
    }
    $("btn-mic").title = t(this.locked("mic") ? "self.micLocked" : you.media.mic ? "toolbar.micIsOn" : "toolbar.micIsOff");
    $("btn-cam").title = t(you.media.camera ? "toolbar.camIsOn" : "toolbar.camIsOff");
    const mayShare = you.role !== "guest";
    $("btn-screen").hidden = !mayShare;
  }

  renderHand() {
    const you = this.state.you;
    const raised = Boolean(you && (you.hand !== null || this.state.hands.has(you.id)));
    const pos = raised ? this.state.handPosition ?? this.state.positionOf(you?.id || "") : null;
    $("btn-hand").setAttribute("aria-pressed", String(raised));
    $("hand-place").textContent = raised && pos ? t("hand.place", { place: pos }) : "";
  }

  /** @param {"people"|"chat"|null} which @param {boolean} [keep] keep open when already shown */
  openPanel(which, keep = false) {
    const next = this.panel === which && !keep ? null : which;
    this.panel = next;
    $("side").hidden = next === null;
    document.body.classList.toggle("side-open", next !== null);
    $("panel-people").hidden = next !== "people";
    $("panel-chat").hidden = next !== "chat";
    $("tab-people").setAttribute("aria-selected", String(next === "people"));
    $("tab-chat").setAttribute("aria-selected", String(next === "chat"));
    $("tab-people").tabIndex = next === "chat" ? -1 : 0; // one tab stop for the tab list
    $("tab-chat").tabIndex = next === "chat" ? 0 : -1;
    $("btn-people").setAttribute("aria-pressed", String(next === "people"));
    $("btn-chat").setAttribute("aria-pressed", String(next === "chat"));
    if (next === "people") $("btn-people").classList.remove("attention");
    if (next === "chat") this.chat.shown();
    this.grid.schedule();
  }

  toggleLayout() {
    this.grid.speakerView = !this.grid.speakerView;
    $("btn-layout").setAttribute("aria-pressed", String(this.grid.speakerView));
    this.grid.render();
  }

  /** @param {{source: Source, by: string}} req */
  async askedToUnmute(req) {
    this.allowed.add(req.source);
    this.renderToolbar();
    const by = this.state.participants.get(req.by)?.name || "";
    const key = req.source === "camera" ? "unmute.askedCamera" : "unmute.asked";
    const yes = await confirmBox(t(key, { name: by }), t("unmute.yes"), t("common.notNow"));
    if (yes && (req.source === "mic" || req.source === "camera")) {
      store.save(this.client.room, { [req.source]: true });
      await this.setSource(req.source, true);
    }
  }

  /** @param {KeyboardEvent} e */
  shortcut(e) {
    if (this.client.phase !== "call" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (!(/** @type {HTMLInputElement} */ ($("keys-on")).checked)) return;
    const target = /** @type {HTMLElement} */ (e.target);
    if (target.closest("input, textarea, select, [role=menu], [role=alertdialog]")) return;
    const id = SHORTCUTS[/** @type {keyof SHORTCUTS} */ (e.key.toLowerCase())];
    if (!id) return;
    e.preventDefault();
    $(id).click();
  }

  /** Speaking ring from audio levels heard here (used until the SFU sends "speaking"). */
  async measureSpeaking() {
    const media = this.client.media;
    if (!media || this.measuring || this.state.serverSpeaking || this.client.phase !== "call") return;
    this.measuring = true;
    const heard = await media.levels().finally(() => (this.measuring = false));
    const now = performance.now();
    let loudest = null;
    let top = SPEAKING_LEVEL;
    for (const [id, level] of heard) {
      if (level <= SPEAKING_LEVEL) continue;
      this.lastLoud.set(id, now);
      if (level > top && id !== this.state.you?.id) [loudest, top] = [id, level];
    }
    // A ring holds for a moment so it does not flicker between syllables.
    const speaking = [...this.lastLoud].filter(([, at]) => now - at < SPEAKING_HOLD_MS).map(([id]) => id);
    this.state.setSpeaking(loudest ?? this.state.dominant, speaking);
  }

  async showQuality() {
    const el = $("net-quality");
    const rtt = await this.client.media?.quality().catch(() => null);
    el.hidden = rtt === null || rtt === undefined;
    if (rtt === null || rtt === undefined) return;
    const level = rtt < 0.15 ? "good" : rtt < 0.4 ? "fair" : "poor";
    el.className = `net ${level}`;
    el.textContent = "▂▄▆".slice(0, level === "good" ? 3 : level === "fair" ? 2 : 1);
    el.setAttribute("aria-label", t(`net.${level}`, { ms: Math.round(rtt * 1000) }));
  }
}
