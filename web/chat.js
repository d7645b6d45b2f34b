// The chat panel: history from welcome, new messages by diff, the pinned message, and host
// delete / pin. Message text only ever becomes text nodes and http(s) anchors (never HTML).

import { h, $, linkify } from "./dom.js";
import { t, clock } from "./i18n/index.js";

/** @typedef {import("./protocol.js").ChatMessage} ChatMessage */
/** @typedef {import("./client.js").Client} Client */

export class Chat {
  /** @param {Client} client @param {() => boolean} visible */
  constructor(client, visible) {
    this.client = client;
    this.state = client.state;
    this.visible = visible;
    this.log = $("chat-log");
    this.unread = 0;
    this.modKey = false;
    const s = this.state;
    s.addEventListener("reset", () => this.renderAll());
    s.addEventListener("chat", (e) => this.add(/** @type {CustomEvent} */ (e).detail.message));
    s.addEventListener("chat_deleted", (e) => this.remove(/** @type {CustomEvent} */ (e).detail.id));
    s.addEventListener("pinned", () => this.renderPinned());
    s.addEventListener("room", () => this.renderCompose());
    s.addEventListener("participant", (e) => {
      const mine = /** @type {CustomEvent} */ (e).detail.id === s.you?.id;
      if (mine && this.modKey !== s.moderator) this.renderAll(); // rank changed: host buttons
    });
    $("chat-form").addEventListener("submit", (/** @type {Event} */ e) => {
      e.preventDefault();
      this.send();
    });
    $("chat-input").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        this.send();
      }
    });
  }

  async send() {
    const input = /** @type {HTMLTextAreaElement} */ ($("chat-input"));
    const text = input.value.trim();
    if (!text) return;
    const ok = await this.client.ask((c) => c.chatSend(text));
    if (ok) input.value = "";
  }

  renderAll() {
    this.modKey = this.state.moderator;
    const frag = document.createDocumentFragment();
    for (const msg of this.state.chat) frag.append(this.item(msg));
    this.log.replaceChildren(frag);
    this.renderPinned();
    this.renderCompose();
    this.scroll();
  }

  /** @param {ChatMessage} msg */
  item(msg) {
    const mine = msg.sender === this.state.you?.id;
    const head = h("div", { class: "chat-head" },
      h("span", { class: "sender", text: msg.sender_name }),
      h("time", { text: clock(msg.at), datetime: new Date(msg.at * 1000).toISOString() }));
    const body = h("p", { class: "chat-text" }, linkify(msg.text));
    const li = h("li", { class: mine ? "chat-msg mine" : "chat-msg", "data-id": msg.id }, head, body);
    if (this.state.moderator) {
      li.append(h("div", { class: "chat-actions" },
        h("button", { type: "button", text: t("chat.pin"), "aria-label": t("chat.pinFrom", { name: msg.sender_name }), onclick: () => this.client.ask((c) => c.chatPin(msg.id)) }),
        h("button", { type: "button", text: t("chat.delete"), "aria-label": t("chat.deleteFrom", { name: msg.sender_name }), onclick: () => this.client.ask((c) => c.chatDelete(msg.id)) })));
    }
    return li;
  }

  /** @param {ChatMessage} msg */
  add(msg) {
    const near = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80;
    this.log.append(this.item(msg));
    if (near || msg.sender === this.state.you?.id) this.scroll();
    if (!this.visible()) {
      this.unread += 1;
      this.renderBadge();
    }
  }

  /** @param {string} id */
  remove(id) {
    this.log.querySelector(`[data-id="${CSS.escape(id)}"]`)?.remove();
  }

  renderPinned() {
    const pinned = this.state.pinned;
    const box = $("chat-pinned");
    box.hidden = !pinned;
    if (!pinned) {
      box.replaceChildren();
      return;
    }
    box.replaceChildren(
      h("p", { class: "pinned-label", text: t("chat.pinned") }),
      h("p", { class: "sender", text: pinned.sender_name }),
      h("p", { class: "chat-text" }, linkify(pinned.text)),
      this.state.moderator
        ? h("button", { type: "button", text: t("chat.unpin"), onclick: () => this.client.ask((c) => c.chatPin(null)) })
        : null);
  }

  renderCompose() {
    const you = this.state.you;
    const room = this.state.room;
    let note = "";
    if (you?.guest) note = t("chat.guestsCannot");
    else if (room && !room.chat && !this.state.moderator) note = t("chat.off");
    $("chat-readonly").textContent = note;
    $("chat-readonly").hidden = note === "";
    $("chat-form").hidden = note !== "";
  }

  shown() {
    this.unread = 0;
    this.renderBadge();
    this.scroll();
  }

  renderBadge() {
    const badge = $("chat-badge");
    badge.hidden = this.unread === 0;
    badge.textContent = String(this.unread);
    badge.setAttribute("aria-label", t("chat.unread", { count: this.unread }));
  }

  scroll() {
    this.log.scrollTop = this.log.scrollHeight;
  }
}
