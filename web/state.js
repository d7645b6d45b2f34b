// The client's copy of a room: filled once by welcome, then kept current by diffs.
// Views subscribe to narrow change events so one participant's change redraws one row.

/** @typedef {import("./protocol.js").ParticipantInfo} ParticipantInfo */
/** @typedef {import("./protocol.js").WaitingInfo} WaitingInfo */
/** @typedef {import("./protocol.js").ChatMessage} ChatMessage */
/** @typedef {import("./protocol.js").RoomInfo} RoomInfo */
/** @typedef {import("./protocol.js").Welcome} Welcome */
/** @typedef {import("./protocol.js").TrackView} TrackView */

/**
 * Change events (detail in brackets): "reset", "participant" {id, before}, "left" {id, reason},
 * "waiting" {}, "hands" {}, "position" {position}, "room" {}, "chat" {message},
 * "chat_deleted" {id}, "pinned" {}, "speaking" {}, "tracks" {}.
 */
export class RoomState extends EventTarget {
  constructor() {
    super();
    /** @type {ParticipantInfo|null} */
    this.you = null;
    /** @type {RoomInfo|null} */
    this.room = null;
    /** @type {Map<string, ParticipantInfo>} */
    this.participants = new Map();
    /** @type {Map<string, WaitingInfo>} */
    this.waiting = new Map();
    /** @type {Map<string, number>} participant → raised_at */
    this.hands = new Map();
    /** @type {number|null} */
    this.handPosition = null;
    /** @type {ChatMessage[]} */
    this.chat = [];
    /** @type {ChatMessage|null} */
    this.pinned = null;
    /** @type {string|null} */
    this.dominant = null;
    /** @type {Set<string>} */
    this.speaking = new Set();
    /** @type {TrackView[]} */
    this.tracks = [];
    /** Once the SFU reports speakers, the client stops measuring levels itself. */
    this.serverSpeaking = false;
  }

  /** @param {string} type @param {object} [detail] */
  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  get moderator() {
    return this.you !== null && (this.you.rank === "host" || this.you.rank === "cohost");
  }

  /** @param {Welcome} w */
  reset(w) {
    this.you = w.you;
    this.room = w.room;
    this.participants = new Map(w.participants.map((p) => [p.id, p]));
    this.participants.set(w.you.id, w.you);
    this.waiting = new Map(w.waiting.map((e) => [e.id, e]));
    this.hands = new Map(w.hands.map((h) => [h.participant, h.raised_at]));
    this.handPosition = this.positionOf(w.you.id);
    this.chat = [...w.chat];
    this.pinned = w.pinned;
    this.emit("reset");
  }

  /** @param {string} id */
  positionOf(id) {
    if (!this.hands.has(id)) return null;
    return this.handQueue().findIndex((h) => h.participant === id) + 1;
  }

  /** Raised hands in order (earliest first). */
  handQueue() {
    return [...this.hands.entries()]
      .map(([participant, at]) => ({ participant, at }))
      .sort((a, b) => a.at - b.at || (a.participant < b.participant ? -1 : 1));
  }

  /** @param {ParticipantInfo} p */
  upsert(p) {
    const before = this.participants.get(p.id) || null;
    this.participants.set(p.id, p);
    if (this.you && p.id === this.you.id) this.you = p;
    if (p.hand === null && this.hands.delete(p.id)) this.emit("hands");
    this.emit("participant", { id: p.id, before });
  }

  /** @param {string|null} dominant @param {Iterable<string>} speaking */
  setSpeaking(dominant, speaking) {
    const next = new Set(speaking);
    const same = next.size === this.speaking.size && [...next].every((id) => this.speaking.has(id));
    if (same && dominant === this.dominant) return;
    this.dominant = dominant;
    this.speaking = next;
    this.emit("speaking");
  }

  /** Hands travel as their own events; keep the participant's view in step. */
  setHand(/** @type {string} */ id, /** @type {number|null} */ at) {
    const p = this.participants.get(id);
    if (!p || p.hand === at) return;
    const next = { ...p, hand: at };
    this.participants.set(id, next);
    if (this.you && id === this.you.id) this.you = next;
    this.emit("participant", { id, before: p });
  }

  /** @param {string} id @param {string} reason */
  removeParticipant(id, reason) {
    if (!this.participants.delete(id)) return;
    if (this.hands.delete(id)) this.emit("hands");
    this.emit("left", { id, reason });
  }

  /** Wire events → state; call with the message's type and body. @param {any} msg */
  apply(msg) {
    const handler = HANDLERS[msg.type];
    if (handler) handler(this, msg);
  }
}

/** @type {Record<string, (s: RoomState, msg: any) => void>} */
const HANDLERS = {
  participant_joined: (s, msg) => s.upsert(msg.participant),
  // A change for someone who already left (a late frame) must not bring them back.
  participant_changed: (s, msg) => {
    if (s.participants.has(msg.participant.id)) s.upsert(msg.participant);
  },
  participant_left: (s, msg) => s.removeParticipant(msg.participant, msg.reason),
  waiting_joined: (s, msg) => {
    s.waiting.set(msg.entry.id, msg.entry);
    s.emit("waiting", { joined: msg.entry });
  },
  waiting_left: (s, msg) => {
    s.waiting.delete(msg.participant);
    s.emit("waiting", {});
  },
  hand_raised: (s, msg) => {
    s.hands.set(msg.participant, msg.raised_at);
    s.setHand(msg.participant, msg.raised_at);
    s.emit("hands", { raised: msg.participant });
  },
  hand_lowered: (s, msg) => {
    s.hands.delete(msg.participant);
    if (s.you && msg.participant === s.you.id) s.handPosition = null;
    s.setHand(msg.participant, null);
    s.emit("hands", { lowered: msg.participant, by: msg.by });
  },
  hand_position: (s, msg) => {
    s.handPosition = msg.position;
    s.emit("position", { position: msg.position });
  },
  room_changed: (s, msg) => {
    s.room = msg.room;
    s.emit("room");
  },
  chat_message: (s, msg) => {
    s.chat.push(msg.message);
    s.emit("chat", { message: msg.message });
  },
  chat_deleted: (s, msg) => {
    s.chat = s.chat.filter((c) => c.id !== msg.message);
    if (s.pinned && s.pinned.id === msg.message) s.pinned = null;
    s.emit("chat_deleted", { id: msg.message });
    s.emit("pinned");
  },
  chat_pinned: (s, msg) => {
    s.pinned = msg.message;
    s.emit("pinned");
  },
  speaking: (s, msg) => {
    s.serverSpeaking = true;
    s.setSpeaking(msg.dominant, msg.speaking);
  },
  tracks: (s, msg) => {
    s.tracks = msg.tracks;
    s.emit("tracks");
  },
};

/** Event types RoomState consumes from a Connection. */
export const STATE_EVENTS = Object.keys(HANDLERS);
