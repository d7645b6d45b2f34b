// The only module that speaks urok's WebSocket protocol (signaling/messages.py, docs/protocol.md).
// Requests are methods returning promises settled by the reply carrying the same id; server
// events are dispatched as DOM events named after the message type (event.detail = message).

export const PROTOCOL_VERSION = 1;
const REQUEST_TIMEOUT_MS = 15000;
const PING_EVERY_MS = 15000;
const PONG_WITHIN_MS = 10000;

/** @typedef {"mic"|"camera"|"screen"} Source */
/** @typedef {"host"|"cohost"|"member"} Rank */
/** @typedef {"admin"|"teacher"|"student"|"parent"|"guest"} Role */
/**
 * @typedef {object} MediaState
 * @property {boolean} mic
 * @property {boolean} camera
 * @property {boolean} screen
 * @property {Source[]} blocked  muted by a host; locked while participants may not unmute
 */
/**
 * @typedef {object} ParticipantInfo
 * @property {string} id
 * @property {string} name
 * @property {Role} role
 * @property {Rank} rank
 * @property {boolean} verified
 * @property {boolean} guest
 * @property {MediaState} media
 * @property {number|null} hand  unix seconds when raised
 * @property {boolean} connected
 */
/**
 * @typedef {object} WaitingInfo
 * @property {string} id
 * @property {string} name
 * @property {Role} role
 * @property {boolean} guest
 * @property {number} since
 */
/** @typedef {{participant: string, raised_at: number}} HandInfo */
/**
 * @typedef {object} ChatMessage
 * @property {string} id
 * @property {string} sender
 * @property {string} sender_name
 * @property {string} text
 * @property {number} at
 */
/**
 * @typedef {object} RoomInfo
 * @property {string} id
 * @property {string} title
 * @property {boolean} locked
 * @property {boolean} waiting_room
 * @property {boolean} guests_allowed
 * @property {boolean} chat
 * @property {boolean} participants_may_unmute
 * @property {boolean} recording
 * @property {number} max_participants
 */
/** @typedef {{urls: string[], username?: string|null, credential?: string|null}} IceServerInfo */
/**
 * @typedef {object} Welcome
 * @property {"welcome"} type
 * @property {number|string|null} id
 * @property {ParticipantInfo} you
 * @property {string} resume
 * @property {RoomInfo} room
 * @property {ParticipantInfo[]} participants
 * @property {HandInfo[]} hands
 * @property {WaitingInfo[]} waiting
 * @property {ChatMessage[]} chat
 * @property {ChatMessage|null} pinned
 * @property {IceServerInfo[]} ice_servers
 */
/**
 * @typedef {object} Waiting
 * @property {"waiting"} type
 * @property {WaitingInfo} you
 * @property {string} resume
 * @property {string} room_title
 * @property {number} position
 */
/** @typedef {{participant_id: string, source: Source, mid: string, stream_id: string}} TrackView */
/**
 * @typedef {object} JoinOptions
 * @property {string} room
 * @property {string} [token]
 * @property {string} [name]
 * @property {string} [resume]
 */

/** A request refused by the server (or lost with the connection); `code` is stable. */
export class ProtocolError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

/** Event names a Connection dispatches besides "open" and "close". */
export const EVENTS = [
  "welcome", "waiting", "denied", "participant_joined", "participant_left",
  "participant_changed", "waiting_joined", "waiting_left", "hand_position", "hand_raised",
  "hand_lowered", "unmute_requested", "room_changed", "removed", "room_ended",
  "recording_problem", "chat_message",
  "chat_deleted", "chat_pinned", "media_offer", "media_candidate", "tracks", "speaking",
  "publish_layers",
];

/** The WebSocket URL of the server that served this page. */
export function defaultUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws`;
}

/**
 * One WebSocket connection to the server. Reconnecting means a new Connection.
 * Dispatches "close" with detail {code, reason, clean} when the socket is gone.
 */
export class Connection extends EventTarget {
  /** @param {string} url */
  constructor(url = defaultUrl()) {
    super();
    this.url = url;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.nextId = 1;
    /** @type {Map<number, {resolve: Function, reject: Function, timer: number}>} */
    this.pending = new Map();
    this.closing = false;
    this.pingTimer = 0;
    this.lastPong = 0;
  }

  /** Open the socket; resolves once it is open. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => {
        this.startPings();
        resolve(undefined);
      };
      ws.onerror = () => reject(new ProtocolError("disconnected", "cannot connect"));
      ws.onmessage = (ev) => this.receive(String(ev.data));
      ws.onclose = (ev) => this.closed(ev.code, ev.reason);
    });
  }

  /** Close on purpose (no reconnect expected). */
  close() {
    this.closing = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "bye");
  }

  /** Drop the socket as a network failure would (a reconnect follows). */
  drop() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(4000, "retry");
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** @param {string} type @param {object} [fields] @returns {Promise<any>} */
  request(type, fields = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.isOpen) {
        reject(new ProtocolError("disconnected", "not connected"));
        return;
      }
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError("timeout", `no reply to ${type}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      /** @type {WebSocket} */ (this.ws).send(JSON.stringify({ ...fields, type, id }));
    });
  }

  /** One frame: a message, or a "batch" of them (the server's outbox sends what queued up
   * together), handled in order. @param {string} data */
  receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg && msg.type === "batch" && Array.isArray(msg.messages)) {
      for (const inner of msg.messages) this.handle(inner);
      return;
    }
    this.handle(msg);
  }

  /** @param {any} msg */
  handle(msg) {
    if (!msg || typeof msg.type !== "string") return;
    if (msg.type === "pong") this.lastPong = Date.now();
    const waiter = msg.id !== undefined && msg.id !== null ? this.pending.get(msg.id) : undefined;
    if (waiter) {
      this.pending.delete(msg.id);
      window.clearTimeout(waiter.timer);
      if (msg.type === "error") waiter.reject(new ProtocolError(msg.code, msg.message));
      else waiter.resolve(msg);
      return;
    }
    if (msg.type === "error") {
      this.dispatchEvent(new CustomEvent("protocol_error", { detail: msg }));
      return;
    }
    this.dispatchEvent(new CustomEvent(msg.type, { detail: msg }));
  }

  /** @param {number} code @param {string} reason */
  closed(code, reason) {
    window.clearInterval(this.pingTimer);
    for (const waiter of this.pending.values()) {
      window.clearTimeout(waiter.timer);
      waiter.reject(new ProtocolError("disconnected", "connection lost"));
    }
    this.pending.clear();
    const detail = { code, reason, clean: this.closing };
    this.dispatchEvent(new CustomEvent("close", { detail }));
  }

  // A silent network (Wi-Fi change, sleep) never fires "close"; missing pongs reveal it.
  startPings() {
    this.lastPong = Date.now();
    this.pingTimer = window.setInterval(() => {
      if (Date.now() - this.lastPong > PING_EVERY_MS + PONG_WITHIN_MS) {
        this.ws?.close(4000, "no pong");
        return;
      }
      this.ping().catch(() => {});
    }, PING_EVERY_MS);
  }

  // ------------------------------------------------------------ requests
  /** @param {JoinOptions} opts @returns {Promise<Welcome|Waiting>} */
  join(opts) {
    const fields = { room: opts.room, version: PROTOCOL_VERSION };
    if (opts.token) fields.token = opts.token;
    if (opts.name) fields.name = opts.name;
    if (opts.resume) fields.resume = opts.resume;
    return this.request("join", fields);
  }

  leave() { return this.request("leave"); }
  ping() { return this.request("ping"); }
  /** @param {string} participant */
  admit(participant) { return this.request("admit", { participant }); }
  /** @param {string} participant */
  deny(participant) { return this.request("deny", { participant }); }
  admitAll() { return this.request("admit_all"); }
  raiseHand() { return this.request("raise_hand"); }
  /** @param {string|null} [participant]  null or omitted: one's own hand */
  lowerHand(participant = null) { return this.request("lower_hand", { participant }); }
  lowerAllHands() { return this.request("lower_all_hands"); }
  /** @param {Source} source @param {boolean} enabled */
  setMedia(source, enabled) { return this.request("set_media", { source, enabled }); }
  /** @param {string} participant @param {Source} source */
  mute(participant, source) { return this.request("mute", { participant, source }); }
  /** @param {Source} [source] */
  muteAll(source = "mic") { return this.request("mute_all", { source }); }
  /** @param {string} participant @param {Source} source */
  requestUnmute(participant, source) {
    return this.request("request_unmute", { participant, source });
  }
  /**
   * @param {{locked?: boolean, participants_may_unmute?: boolean, chat?: boolean,
   *   waiting_room?: boolean}} changes
   */
  setRoom(changes) { return this.request("set_room", changes); }
  /** @param {string} participant @param {string} [reason] */
  remove(participant, reason = "") { return this.request("remove", { participant, reason }); }
  /** @param {string} participant @param {string} [reason] */
  ban(participant, reason = "") { return this.request("ban", { participant, reason }); }
  /** @param {string} participant */
  promote(participant) { return this.request("promote", { participant }); }
  /** @param {string} participant */
  demote(participant) { return this.request("demote", { participant }); }
  /** @param {string} participant */
  transferHost(participant) { return this.request("transfer_host", { participant }); }
  endRoom() { return this.request("end_room"); }
  startRecording() { return this.request("start_recording"); }
  stopRecording() { return this.request("stop_recording"); }
  /** What the broadcast / recording composite shows. @param {"speaker"|"grid"} layout */
  setLayout(layout) { return this.request("set_layout", { layout }); }
  /**
   * The tiles this client shows now, so the SFU sends those videos at fitting sizes.
   * @param {{participant: string, source: string, width: number, height: number}[]} tiles
   */
  view(tiles) { return this.request("view", { tiles }); }
  /** @param {string} text */
  chatSend(text) { return this.request("chat_send", { text }); }
  /** @param {string} message */
  chatDelete(message) { return this.request("chat_delete", { message }); }
  /** @param {string|null} message  null unpins */
  chatPin(message) { return this.request("chat_pin", { message }); }
  /**
   * @param {string} sdp
   * @param {Record<string, Source>} [sources] which source each mid of the offer carries
   * @returns {Promise<{sdp: string}>}
   */
  mediaOffer(sdp, sources) { return this.request("media_offer", { sdp, sources }); }
  /** @param {string} sdp */
  mediaAnswer(sdp) { return this.request("media_answer", { sdp }); }
  /** @param {string|null} candidate @param {string|null} sdpMid */
  mediaCandidate(candidate, sdpMid) {
    return this.request("media_candidate", { candidate, sdp_mid: sdpMid });
  }
}
