// Questions and comments on the viewer page (/b/{id}), over plain HTTP (signaling/audience.py).
// Everyone sees the public list (pinned first, then in order; text only, never HTML); registered
// viewers ask. The broadcast's hosts — the server says so in the list it returns (`moderator`) —
// also see hidden questions, and each question gets controls: hide / show again, pin / unpin, and
// a written answer that everyone sees under the question. Rows are keyed by question id and
// updated in place, so a poll never wipes an answer being typed.

import { $, h } from "./dom.js";
import { has, t } from "./i18n/index.js";

const POLL_MS = 3000;

/**
 * @typedef {{id: string, kind: string, name: string, text: string, at: number, hidden: boolean,
 *   answered: boolean, pinned: boolean, answer?: string | null}} Question
 * @typedef {{hide: HTMLButtonElement, pin: HTMLButtonElement, field: HTMLInputElement,
 *   send: HTMLButtonElement, unanswer: HTMLButtonElement}} Tools
 * @typedef {{li: HTMLElement, name: HTMLElement, text: HTMLElement, marks: HTMLElement,
 *   answer: HTMLElement, answerLabel: HTMLElement, answerText: HTMLElement,
 *   tools: Tools | null, q: Question, busy: boolean}} Row
 * @typedef {{ok: true, status: number, body: any} | {ok: false, status: number, code: string}} Result
 */

/** Error codes of the Q&A endpoints that have their own text here. */
const REASONS = /** @type {Record<string, string>} */ ({
  network: "error.disconnected",
  unknown_message: "qa.gone",
  invalid_body: "qa.invalid",
  body_too_large: "qa.invalid",
  broadcast_ended: "qa.ended",
  too_many_questions: "qa.tooMany",
});

/** A localized reason for a refused or failed request. @param {string} code */
function reason(code) {
  const key = REASONS[code] || `error.${code}`;
  return has(key) ? t(key) : t("qa.error", { code });
}

/** fetch that never throws: a network failure is the code "network". @returns {Promise<Result>} */
async function call(/** @type {string} */ url, /** @type {RequestInit} */ init = {}) {
  let resp;
  try {
    resp = await fetch(url, init);
  } catch {
    return { ok: false, status: 0, code: "network" };
  }
  const body = await resp.json().catch(() => null);
  if (resp.ok) return { ok: true, status: resp.status, body };
  return { ok: false, status: resp.status, code: body?.error?.code || `http_${resp.status}` };
}

/** Pinned first, then by time. @param {Question} a @param {Question} b */
function byPin(a, b) {
  return Number(b.pinned) - Number(a.pinned) || a.at - b.at || (a.id < b.id ? -1 : 1);
}

/** Write a row's text and labels from its question (also after a language switch). @param {Row} row */
function fill(row) {
  const { q } = row;
  row.li.classList.toggle("qa-hidden", q.hidden);
  row.li.classList.toggle("qa-pinned", q.pinned);
  row.name.textContent = q.name;
  row.text.textContent = ` ${q.text}`;
  const marks = [q.pinned ? t("qa.pinned") : "", q.answered && !q.answer ? t("qa.answered") : ""];
  if (q.hidden) marks.push(t("qa.hidden"));
  const shown = marks.filter(Boolean);
  row.marks.textContent = shown.length ? ` (${shown.join(", ")})` : "";
  row.answer.hidden = !q.answer;
  row.answerLabel.textContent = `${t("qa.answerLabel")} `;
  row.answerText.textContent = q.answer || "";
  if (row.tools) label(row.tools, q);
}

/**
 * Mark a row's controls busy while its change is on the way. aria-disabled, not disabled: a
 * disabled button would lose the keyboard focus. @param {Row} row @param {boolean} on
 */
function busy(row, on) {
  row.busy = on;
  if (!row.tools) return;
  for (const b of [row.tools.hide, row.tools.pin, row.tools.send, row.tools.unanswer]) {
    if (on) b.setAttribute("aria-disabled", "true");
    else b.removeAttribute("aria-disabled");
  }
}

/** Moderation controls' texts and accessible names. @param {Tools} tools @param {Question} q */
function label(tools, q) {
  const name = { name: q.name };
  tools.hide.textContent = t(q.hidden ? "qa.show" : "qa.hide");
  tools.hide.setAttribute("aria-label", t(q.hidden ? "qa.showFrom" : "qa.hideFrom", name));
  tools.pin.textContent = t(q.pinned ? "qa.unpin" : "qa.pin");
  tools.pin.setAttribute("aria-label", t(q.pinned ? "qa.unpinFrom" : "qa.pinFrom", name));
  tools.field.setAttribute("aria-label", t("qa.answerField", name));
  tools.field.placeholder = t("qa.answerPh");
  tools.send.textContent = t("qa.reply");
  tools.send.setAttribute("aria-label", t("qa.replyTo", name));
  tools.unanswer.textContent = t("qa.unanswer");
  tools.unanswer.setAttribute("aria-label", t("qa.unanswerFrom", name));
  tools.unanswer.hidden = !q.answer;
}

/** The Q&A section of the viewer page. */
export class QuestionBoard {
  /** @param {string} roomId @param {string | null} token */
  constructor(roomId, token) {
    this.base = `/api/broadcasts/${encodeURIComponent(roomId)}/questions`;
    this.token = token;
    /** Send the token when reading the list, until the server says it does not moderate. */
    this.probe = Boolean(token);
    this.moderator = false;
    /** Bumped by each change, so a list read before it cannot overwrite its result. */
    this.epoch = 0;
    /** @type {Map<string, Row>} */
    this.rows = new Map();
    this.list = $("qa-list");
  }

  start() {
    $("qa-form").hidden = !this.token;
    $("qa-guest").hidden = Boolean(this.token);
    $("qa-form").addEventListener("submit", (/** @type {Event} */ e) => this.ask(e));
    this.load();
    setInterval(() => this.load(), POLL_MS);
  }

  /** @param {string} text */
  say(text) {
    $("qa-status").textContent = text;
  }

  headers() {
    /** @type {Record<string, string>} */
    const headers = { "Content-Type": "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  async load() {
    const epoch = this.epoch;
    const res = await call(this.base, this.probe ? { headers: this.headers() } : {});
    if (!res.ok || epoch !== this.epoch) return; // the next poll tries again
    const moderator = Boolean(res.body.moderator);
    if (!moderator) this.probe = false; // a viewer reads the public, cacheable list
    if (moderator !== this.moderator) this.become(moderator);
    this.show(res.body.questions);
  }

  /** Controls appear or go: rebuild the rows. @param {boolean} moderator */
  become(moderator) {
    if (this.moderator && !moderator) this.say(t("qa.lost"));
    this.moderator = moderator;
    $("qa-host").hidden = !moderator;
    this.list.replaceChildren();
    this.rows.clear();
  }

  /** @param {Question[]} questions */
  show(questions) {
    const seen = new Set(questions.map((q) => q.id));
    for (const q of questions) this.update(q);
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.li.remove();
        this.rows.delete(id);
      }
    }
    this.order();
  }

  /** @param {Question} q */
  update(q) {
    const row = this.rows.get(q.id) || this.row(q);
    this.rows.set(q.id, row);
    row.q = q;
    fill(row);
  }

  /** Put rows in order; only moves them when the order changed, keeping focus where it was. */
  order() {
    const want = [...this.rows.values()].sort((a, b) => byPin(a.q, b.q)).map((r) => r.li);
    const have = [...this.list.children];
    if (want.length === have.length && want.every((li, i) => li === have[i])) return;
    const focused = document.activeElement;
    this.list.append(...want);
    if (focused instanceof HTMLElement && focused.isConnected && focused !== document.activeElement) {
      focused.focus();
    }
  }

  /** @param {Question} q @returns {Row} */
  row(q) {
    const name = h("strong");
    const text = h("span", { class: "qa-text" });
    const marks = h("em", { class: "qa-marks" });
    const answerLabel = h("span", { class: "qa-answer-label" });
    const answerText = h("span", { class: "qa-answer-text" });
    const answer = h("p", { class: "qa-answer" }, answerLabel, answerText);
    const li = h("li", { "data-question": q.id }, h("p", { class: "qa-line" }, name, text, marks), answer);
    /** @type {Row} */
    const row = { li, name, text, marks, answer, answerLabel, answerText, tools: null, q, busy: false };
    if (this.moderator) row.tools = this.tools(row);
    return row;
  }

  /** Moderation controls for one row. @param {Row} row @returns {Tools} */
  tools(row) {
    const button = (/** @type {() => void} */ act) => /** @type {HTMLButtonElement} */ (h("button", { type: "button", onclick: act }));
    const hide = button(() => this.change(row, { hidden: !row.q.hidden }));
    const pin = button(() => this.change(row, { pinned: !row.q.pinned }));
    const unanswer = button(() => this.change(row, { answer: "" }));
    const field = /** @type {HTMLInputElement} */ (h("input", { type: "text", maxlength: "2000", class: "qa-answer-field" }));
    const send = /** @type {HTMLButtonElement} */ (h("button", { type: "submit" }));
    const form = h("form", { class: "qa-answer-form", onsubmit: (/** @type {Event} */ e) => this.answer(e, row) }, field, send, unanswer);
    row.li.append(h("div", { class: "qa-tools" }, hide, pin, form));
    return { hide, pin, field, send, unanswer };
  }

  /** @param {Event} event @param {Row} row */
  async answer(event, row) {
    event.preventDefault();
    const tools = /** @type {Tools} */ (row.tools);
    const text = tools.field.value.trim();
    if (!text) {
      this.say(t("qa.emptyAnswer"));
      tools.field.focus();
      return;
    }
    if (await this.change(row, { answer: text })) tools.field.value = "";
  }

  /**
   * Send a host's change; show the result at once, or say why it was refused.
   * @param {Row} row @param {Record<string, boolean|string>} patch @returns {Promise<boolean>}
   */
  async change(row, patch) {
    if (row.busy) return false; // one change per question at a time: a double click is one
    busy(row, true);
    this.epoch += 1;
    const url = `${this.base}/${encodeURIComponent(row.q.id)}`;
    const res = await call(url, { method: "PATCH", headers: this.headers(), body: JSON.stringify(patch) });
    this.epoch += 1;
    busy(row, false);
    if (res.ok) {
      this.say("");
      this.update(res.body);
      this.order();
    } else {
      this.say(res.status === 403 ? t("qa.refused") : reason(res.code));
      if (res.status === 401 || res.status === 403) this.probe = Boolean(this.token); // ask who we are
    }
    this.load(); // a pin unpins the other one; the list says so
    return res.ok;
  }

  /** @param {Event} event */
  async ask(event) {
    event.preventDefault();
    const text = /** @type {HTMLTextAreaElement} */ ($("qa-text"));
    const kind = /** @type {HTMLSelectElement} */ ($("qa-kind")).value;
    const res = await call(this.base, { method: "POST", headers: this.headers(), body: JSON.stringify({ text: text.value, kind }) });
    if (res.ok) {
      text.value = "";
      this.say("");
      this.load();
    } else {
      this.say(t("qa.failed", { reason: reason(res.code) }));
    }
  }

  /** Texts again in the current language. */
  redraw() {
    for (const row of this.rows.values()) fill(row);
  }
}
