// One person's presence in a room across reconnections: connects, joins (with the resume key
// when there is one), keeps RoomState current, and reconnects after a network loss.

import { Connection, ProtocolError } from "./protocol.js";
import { RoomState, STATE_EVENTS } from "./state.js";
import { Media } from "./media.js";

/** @typedef {import("./protocol.js").Welcome} Welcome */
/** @typedef {import("./protocol.js").Waiting} Waiting */
/** @typedef {"idle"|"joining"|"waiting"|"call"|"done"} Phase */

const RETRY_MS = [300, 1000, 2000, 3000, 5000];
// Codes after which joining again with the same credentials cannot help.
const FINAL = new Set([
  "room_full", "room_locked", "room_ended", "guests_not_allowed", "token_expired",
  "token_invalid", "token_wrong_room", "banned", "name_required", "not_found", "room_not_found",
]);

/** Storage for what must survive a reload of this tab (not of the browser). */
export const store = {
  /** @param {string} room */
  load(room) {
    try {
      return JSON.parse(window.sessionStorage.getItem(`urok:${room}`) || "{}");
    } catch {
      return {};
    }
  },
  /** @param {string} room @param {object} data */
  save(room, data) {
    window.sessionStorage.setItem(`urok:${room}`, JSON.stringify({ ...this.load(room), ...data }));
  },
  /** @param {string} room */
  forget(room) {
    window.sessionStorage.removeItem(`urok:${room}`);
  },
};

/**
 * Events: "phase" {phase}, "welcome", "waiting" {position}, "ended" {kind, reason, banned},
 * "failed" {code, message}, "reconnecting" {on}, "unmute_requested" {source, by},
 * "media" (a new Media object), "problem" {code, message} (a request refused mid-call).
 */
export class Client extends EventTarget {
  /** @param {{room: string, token?: string, url?: string}} opts */
  constructor(opts) {
    super();
    this.room = opts.room;
    this.token = opts.token || "";
    this.url = opts.url;
    this.state = new RoomState();
    /** @type {Phase} */
    this.phase = "idle";
    /** @type {Connection|null} */
    this.conn = null;
    /** @type {Media|null} */
    this.media = null;
    this.name = "";
    this.attempt = 0;
    this.retryTimer = 0;
    /** @type {MediaStream} */
    this.local = new MediaStream();
  }

  /** @param {string} type @param {object} [detail] */
  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @param {Phase} phase */
  setPhase(phase) {
    this.phase = phase;
    this.emit("phase", { phase });
  }

  get resume() {
    return store.load(this.room).resume || "";
  }

  /** Start joining with a display name (guests) and the local camera/microphone stream. */
  async start(/** @type {{name?: string, local?: MediaStream}} */ opts = {}) {
    this.name = opts.name || store.load(this.room).name || "";
    if (opts.local) this.local = opts.local;
    store.save(this.room, { name: this.name });
    this.setPhase("joining");
    await this.connect();
  }

  async connect() {
    const conn = new Connection(this.url);
    this.conn = conn;
    this.wire(conn);
    try {
      await conn.open();
    } catch {
      this.lost();
      return;
    }
    await this.join(conn, this.resume);
  }

  /** @param {Connection} conn @param {string} resume */
  async join(conn, resume) {
    try {
      const reply = await conn.join({ room: this.room, token: this.token, name: this.name, resume });
      this.attempt = 0;
      this.emit("reconnecting", { on: false });
      if (reply.type === "welcome") this.welcome(/** @type {Welcome} */ (reply));
      else this.waiting(/** @type {Waiting} */ (reply));
    } catch (err) {
      const e = /** @type {ProtocolError} */ (err);
      if (e.code === "disconnected") return; // "close" starts the retry
      if (e.code === "timeout") {
        conn.drop(); // no answer: try again on a fresh connection
        return;
      }
      if (resume && !FINAL.has(e.code)) {
        store.save(this.room, { resume: "" }); // the place was not kept: join afresh
        await this.join(conn, "");
        return;
      }
      this.finish();
      this.emit("failed", { code: e.code, message: e.message });
    }
  }

  /** @param {Connection} conn */
  wire(conn) {
    for (const type of STATE_EVENTS) {
      conn.addEventListener(type, (e) => this.state.apply(/** @type {CustomEvent} */ (e).detail));
    }
    const on = (/** @type {string} */ type, /** @type {(msg: any) => void} */ fn) =>
      conn.addEventListener(type, (e) => fn(/** @type {CustomEvent} */ (e).detail));
    on("welcome", (msg) => this.welcome(msg));
    on("denied", (msg) => this.end("denied", msg.reason, false));
    on("removed", (msg) => {
      const kind = msg.reason === "replaced" ? "replaced" : "removed";
      this.end(kind, msg.reason, msg.banned);
    });
    on("room_ended", (msg) => this.end("ended", msg.reason, false));
    on("unmute_requested", (msg) => this.emit("unmute_requested", msg));
    on("protocol_error", (msg) => this.emit("problem", msg));
    on("recording_problem", (msg) => this.emit("problem", msg));
    on("close", (detail) => {
      if (conn === this.conn && !detail.clean) this.lost();
    });
  }

  /** @param {Welcome} w */
  welcome(w) {
    store.save(this.room, { resume: w.resume });
    this.state.reset(w);
    const screen = this.media?.screen || null; // a share survives a reconnect
    this.media?.close();
    const media = new Media(/** @type {Connection} */ (this.conn), this.state);
    media.setLocal(this.local);
    media.screen = screen;
    this.media = media;
    this.setPhase("call");
    this.emit("welcome");
    this.emit("media");
    media.start(w.ice_servers).catch((err) => media.failed(err));
  }

  /** @param {Waiting} w */
  waiting(w) {
    store.save(this.room, { resume: w.resume });
    this.state.room = null;
    this.setPhase("waiting");
    this.emit("waiting", { position: w.position, title: w.room_title });
  }

  /** @param {string} kind @param {string} reason @param {boolean} banned */
  end(kind, reason, banned) {
    this.finish();
    this.emit("ended", { kind, reason, banned });
  }

  finish() {
    window.clearTimeout(this.retryTimer);
    store.save(this.room, { resume: "" });
    this.setPhase("done");
    this.media?.close(true);
    this.media = null;
    this.conn?.close();
  }

  /** The socket went away without a goodbye: try again with the resume key. */
  lost() {
    if (this.phase === "done" || this.phase === "idle") return;
    this.emit("reconnecting", { on: true });
    const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  /** Leave on purpose. */
  async leave() {
    try {
      await this.conn?.leave();
    } catch {
      /* leaving anyway */
    }
    this.end("left", "", false);
  }

  /**
   * Run a request; a refusal is reported as a "problem" event instead of thrown.
   * @template T @param {(conn: Connection) => Promise<T>} fn @returns {Promise<T|null>}
   */
  async ask(fn) {
    if (!this.conn) return null;
    try {
      return await fn(this.conn);
    } catch (err) {
      const e = /** @type {ProtocolError} */ (err);
      this.emit("problem", { code: e.code, message: e.message });
      return null;
    }
  }
}
