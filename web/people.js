// The people panel: waiting room queue (hosts), raised hands in order, room switches (hosts),
// and the participant list with search. Rows are keyed by participant and updated by diff,
// so a room of 300 redraws one row per change; host actions live in one shared menu.

import { h, $, clear } from "./dom.js";
import { t, clock } from "./i18n/index.js";
import { confirmBox, knockSound, toast } from "./ui.js";
import { icon } from "./icons.js";

/** @typedef {import("./protocol.js").ParticipantInfo} ParticipantInfo */
/** @typedef {import("./client.js").Client} Client */

/** One row of the participant list. */
class Row {
  /** @param {ParticipantInfo} p @param {(row: Row, button: HTMLElement) => void} onMenu */
  constructor(p, onMenu) {
    this.id = p.id;
    this.name = h("span", { class: "name" });
    this.badges = h("span", { class: "badges" });
    this.icons = h("span", { class: "icons" });
    this.menuButton = h("button", { type: "button", class: "icon more", "aria-haspopup": "menu" }, icon("more"));
    this.menuButton.addEventListener("click", () => onMenu(this, this.menuButton));
    this.el = h("li", { class: "person" }, this.name, this.badges, this.icons, this.menuButton);
    this.key = "";
    this.search = "";
  }

  /** @param {ParticipantInfo} p @param {boolean} you @param {boolean} canModerate */
  update(p, you, canModerate) {
    const key = JSON.stringify([p, you, canModerate]);
    if (key === this.key) return;
    this.key = key;
    this.search = p.name.toLowerCase();
    this.name.textContent = you ? t("tile.you", { name: p.name }) : p.name;
    this.el.dataset.participant = p.id;
    const badges = [];
    if (p.verified) badges.push(h("span", { class: "verified", title: t("tile.verified") }, icon("check", t("tile.verified"))));
    if (p.rank !== "member") badges.push(h("span", { class: "badge-rank", text: t(`rank.${p.rank}`) }));
    else if (p.guest) badges.push(h("span", { class: "badge-rank", text: t("role.guest") }));
    this.badges.replaceChildren(...badges);
    const m = p.media;
    const icons = [
      h("span", { class: m.mic ? "on" : "off" }, icon(m.mic ? "mic" : "micOff", t(m.mic ? "tile.micOn" : "tile.micOff"))),
      h("span", { class: m.camera ? "on" : "off" }, icon(m.camera ? "camera" : "cameraOff", t(m.camera ? "tile.camOn" : "tile.camOff"))),
    ];
    if (m.screen) icons.push(icon("screen", t("tile.screen")));
    if (p.hand !== null) icons.push(h("span", { class: "hand" }, icon("hand", t("tile.hand"))));
    if (!p.connected) icons.push(icon("away", t("tile.away")));
    this.icons.replaceChildren(...icons);
    this.menuButton.hidden = !canModerate || you;
    this.menuButton.setAttribute("aria-label", t("people.actions", { name: p.name }));
  }
}

export class People {
  /** @param {Client} client */
  constructor(client) {
    this.client = client;
    this.state = client.state;
    /** @type {Map<string, Row>} */
    this.rows = new Map();
    this.list = $("people-list");
    this.query = "";
    this.menu = h("ul", { class: "menu", role: "menu", hidden: true });
    document.body.append(this.menu);
    /** @type {Row|null} */
    this.menuRow = null;
    /** Whether the rows were drawn for a moderator (a rank change redraws them). */
    this.moderatorShown = false;
    this.bind();
  }

  bind() {
    const s = this.state;
    s.addEventListener("reset", () => this.renderAll());
    s.addEventListener("participant", (e) => this.one(/** @type {CustomEvent} */ (e).detail.id));
    s.addEventListener("left", (e) => this.drop(/** @type {CustomEvent} */ (e).detail.id));
    s.addEventListener("waiting", (e) => this.renderWaiting(/** @type {CustomEvent} */ (e).detail));
    s.addEventListener("hands", (e) => {
      this.renderHands();
      const raised = /** @type {CustomEvent} */ (e).detail?.raised;
      const name = raised && raised !== s.you?.id ? s.participants.get(raised)?.name : "";
      if (name && s.moderator) toast(t("hands.raised", { name }), { key: "hand" });
    });
    s.addEventListener("room", () => this.renderControls());
    $("people-search").addEventListener("input", (/** @type {Event} */ e) => {
      this.query = /** @type {HTMLInputElement} */ (e.target).value.trim().toLowerCase();
      for (const row of this.rows.values()) this.filter(row);
    });
    const ask = this.client.ask.bind(this.client);
    $("admit-all").addEventListener("click", () => ask((c) => c.admitAll()));
    $("lower-all").addEventListener("click", () => ask((c) => c.lowerAllHands()));
    $("mute-all").addEventListener("click", () => ask((c) => c.muteAll("mic")));
    $("end-room").addEventListener("click", () => this.endRoom());
    $("record").addEventListener("click", () =>
      ask((c) => (this.state.room?.recording ? c.stopRecording() : c.startRecording())));
    const sw = (/** @type {string} */ id, /** @type {string} */ field, invert = false) =>
      $(id).addEventListener("change", (/** @type {Event} */ e) => {
        const on = /** @type {HTMLInputElement} */ (e.target).checked;
        ask((c) => c.setRoom({ [field]: invert ? !on : on }));
      });
    sw("sw-unmute", "participants_may_unmute");
    sw("sw-lock", "locked");
    sw("sw-waiting", "waiting_room");
    sw("sw-chat", "chat");
    document.addEventListener("click", (e) => {
      if (!this.menu.hidden && !this.menu.contains(/** @type {Node} */ (e.target)) &&
          !(/** @type {HTMLElement} */ (e.target)).closest(".more")) this.closeMenu();
    });
    this.menu.addEventListener("keydown", (e) => this.menuKeys(e));
  }

  renderAll() {
    this.moderatorShown = this.state.moderator;
    this.closeMenu();
    clear(this.list);
    this.rows.clear();
    const frag = document.createDocumentFragment();
    for (const p of this.state.participants.values()) frag.append(this.row(p).el);
    this.list.append(frag);
    this.renderCount();
    this.renderWaiting({});
    this.renderHands();
    this.renderControls();
  }

  /** @param {ParticipantInfo} p */
  row(p) {
    let row = this.rows.get(p.id);
    if (!row) {
      row = new Row(p, (r, b) => this.openMenu(r, b));
      this.rows.set(p.id, row);
    }
    row.update(p, p.id === this.state.you?.id, this.state.moderator);
    this.filter(row);
    return row;
  }

  /** @param {string} id */
  one(id) {
    const p = this.state.participants.get(id);
    if (!p) return;
    const fresh = !this.rows.has(id);
    const row = this.row(p);
    if (fresh) {
      this.list.append(row.el);
      this.renderCount();
    }
    if (id === this.state.you?.id) {
      this.refreshRights();
      this.renderControls(); // host ↔ co-host changes what the controls offer
    }
    if (this.menuRow?.id === id) this.fillMenu(p);
  }

  /** My rank changed: every row's menu button and the host blocks may change. */
  refreshRights() {
    const mod = this.state.moderator;
    if (this.moderatorShown === mod) return;
    this.moderatorShown = mod;
    for (const p of this.state.participants.values()) this.row(p);
    this.renderWaiting({});
    this.renderHands();
    this.renderControls();
  }

  /** @param {string} id */
  drop(id) {
    this.rows.get(id)?.el.remove();
    this.rows.delete(id);
    if (this.menuRow?.id === id) this.closeMenu();
    this.renderCount();
  }

  /** @param {Row} row */
  filter(row) {
    row.el.hidden = this.query !== "" && !row.search.includes(this.query);
  }

  renderCount() {
    $("people-h").textContent = t("people.heading", { count: this.state.participants.size });
  }

  /** @param {{joined?: import("./protocol.js").WaitingInfo}} detail */
  renderWaiting(detail) {
    const mod = this.state.moderator;
    const entries = [...this.state.waiting.values()].sort((a, b) => a.since - b.since);
    const panel = $("waiting-panel");
    panel.hidden = !mod || entries.length === 0;
    $("waiting-panel-h").textContent = t("host.waitingHeading", { count: entries.length });
    const badge = $("knock-badge");
    badge.hidden = !mod || entries.length === 0;
    badge.textContent = String(entries.length);
    badge.setAttribute("aria-label", t("host.waitingHeading", { count: entries.length }));
    const ask = this.client.ask.bind(this.client);
    $("waiting-list").replaceChildren(...entries.map((e) => h("li", { class: "waiting-entry" },
      h("span", { class: "name", text: e.name }),
      e.guest ? h("span", { class: "badge-rank", text: t("role.guest") }) : null,
      h("button", { type: "button", class: "primary", text: t("host.admit"), "aria-label": t("host.admitName", { name: e.name }), onclick: () => ask((c) => c.admit(e.id)) }),
      h("button", { type: "button", text: t("host.deny"), "aria-label": t("host.denyName", { name: e.name }), onclick: () => ask((c) => c.deny(e.id)) }),
    )));
    if (mod && detail.joined) this.knock(detail.joined.name);
  }

  /** @param {string} name */
  knock(name) {
    knockSound();
    const panel = $("waiting-panel");
    panel.classList.remove("flash");
    void panel.offsetWidth; // restart the animation
    panel.classList.add("flash");
    const count = this.state.waiting.size;
    toast(count > 1 ? t("host.knockMany", { name, count }) : t("host.knock", { name }), { key: "knock" });
  }

  renderHands() {
    const queue = this.state.handQueue();
    const mod = this.state.moderator;
    $("hands-panel").hidden = queue.length === 0;
    $("hands-h").textContent = t("hands.heading", { count: queue.length });
    $("lower-all").hidden = !mod;
    const ask = this.client.ask.bind(this.client);
    $("hands-list").replaceChildren(...queue.map((hand, i) => {
      const name = this.state.participants.get(hand.participant)?.name || "?";
      return h("li", { class: "hand-entry" },
        h("span", { class: "place", text: `${i + 1}.` }),
        h("span", { class: "name", text: name }),
        h("time", { text: clock(hand.at), datetime: new Date(hand.at * 1000).toISOString() }),
        mod ? h("button", { type: "button", text: t("hands.lowerShort"), "aria-label": t("hands.lowerName", { name }), onclick: () => ask((c) => c.lowerHand(hand.participant)) }) : null,
      );
    }));
  }

  renderControls() {
    const room = this.state.room;
    $("room-controls").hidden = !this.state.moderator || !room;
    $("end-room").hidden = this.state.you?.rank !== "host"; // co-hosts cannot end the room
    if (!room) return;
    /** @type {[string, boolean][]} */
    const switches = [
      ["sw-unmute", room.participants_may_unmute], ["sw-lock", room.locked],
      ["sw-waiting", room.waiting_room], ["sw-chat", room.chat],
    ];
    for (const [id, on] of switches) /** @type {HTMLInputElement} */ ($(id)).checked = on;
    $("record").setAttribute("aria-pressed", String(room.recording));
  }

  async endRoom() {
    const yes = await confirmBox(t("host.endConfirm"), t("host.end"), t("common.cancel"));
    if (yes) await this.client.ask((c) => c.endRoom());
  }

  // ------------------------------------------------------------ the actions menu
  /** @param {Row} row @param {HTMLElement} button */
  openMenu(row, button) {
    const p = this.state.participants.get(row.id);
    if (!p) return;
    this.menuRow = row;
    this.fillMenu(p);
    const box = button.getBoundingClientRect();
    this.menu.style.top = `${Math.min(box.bottom, window.innerHeight - 320)}px`;
    this.menu.style.left = `${Math.max(8, box.right - 260)}px`;
    this.menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    /** @type {HTMLElement|null} */ (this.menu.querySelector("button"))?.focus();
  }

  /** @param {ParticipantInfo} p */
  fillMenu(p) {
    const ask = this.client.ask.bind(this.client);
    const you = this.state.you;
    /** @type {[string, () => Promise<unknown>][]} */
    const items = [];
    for (const source of /** @type {const} */ (["mic", "camera", "screen"])) {
      if (p.media[source]) items.push([t(`action.mute.${source}`), () => ask((c) => c.mute(p.id, source))]);
    }
    if (!p.media.mic) items.push([t("action.askUnmute"), () => ask((c) => c.requestUnmute(p.id, "mic"))]);
    if (!p.media.camera) items.push([t("action.askCamera"), () => ask((c) => c.requestUnmute(p.id, "camera"))]);
    if (p.hand !== null) items.push([t("hands.lower"), () => ask((c) => c.lowerHand(p.id))]);
    if (you?.rank === "host" && p.rank === "member" && !p.guest) items.push([t("action.promote"), () => ask((c) => c.promote(p.id))]);
    if (you?.rank === "host" && p.rank === "cohost") items.push([t("action.demote"), () => ask((c) => c.demote(p.id))]);
    if (you?.rank === "host" && !p.guest) items.push([t("action.makeHost"), () => this.makeHost(p)]);
    if (p.rank !== "host") {
      items.push([t("action.remove"), () => this.removeOrBan(p, false)]);
      items.push([t("action.ban"), () => this.removeOrBan(p, true)]);
    }
    this.menu.setAttribute("aria-label", t("people.actions", { name: p.name }));
    this.menu.replaceChildren(...items.map(([label, run]) => h("li", { role: "none" },
      h("button", { type: "button", role: "menuitem", text: label, onclick: () => { this.closeMenu(); run(); } }))));
  }

  /** @param {ParticipantInfo} p @param {boolean} ban */
  async removeOrBan(p, ban) {
    const text = t(ban ? "action.banConfirm" : "action.removeConfirm", { name: p.name });
    const yes = await confirmBox(text, t(ban ? "action.ban" : "action.remove"), t("common.cancel"));
    if (!yes) return;
    await this.client.ask((c) => (ban ? c.ban(p.id) : c.remove(p.id)));
  }

  /** @param {ParticipantInfo} p */
  async makeHost(p) {
    const text = t("action.makeHostConfirm", { name: p.name });
    if (await confirmBox(text, t("action.makeHost"), t("common.cancel"))) {
      await this.client.ask((c) => c.transferHost(p.id));
    }
  }

  closeMenu() {
    if (this.menu.hidden) return;
    this.menu.hidden = true;
    const row = this.menuRow;
    this.menuRow = null;
    row?.menuButton.setAttribute("aria-expanded", "false");
    if (row && this.menu.contains(document.activeElement)) row.menuButton.focus();
  }

  /** @param {KeyboardEvent} e */
  menuKeys(e) {
    const items = [...this.menu.querySelectorAll("button")];
    const at = items.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
    if (e.key === "Escape") {
      const row = this.menuRow;
      this.closeMenu();
      row?.menuButton.focus();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = (at + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
      items[next]?.focus();
    }
  }
}
