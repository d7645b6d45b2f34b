// Camera, microphone and screen; one RTCPeerConnection to the SFU, negotiated through protocol.js.
// The client offers what it publishes; the SFU may offer back (receive slots) at any time.
// Remote tracks are matched to participants by the "tracks" message (mid → participant, source).

/** @typedef {import("./protocol.js").Connection} Connection */
/** @typedef {import("./protocol.js").IceServerInfo} IceServerInfo */
/** @typedef {import("./protocol.js").Source} Source */
/** @typedef {import("./state.js").RoomState} RoomState */

/** Camera simulcast, low to high (the SFU reads a=simulcast in this order): a quarter, a half
 * and the full picture, each capped so a class of thumbnails costs little. */
export const SIMULCAST = [
  { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "m", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "h", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/** Camera and microphone constraints; deviceId empty means the default device. */
export function constraints(camId = "", micId = "") {
  return {
    video: camId ? { deviceId: { exact: camId }, width: 1280, height: 720 } : { width: 1280, height: 720 },
    audio: micId ? { deviceId: { exact: micId } } : true,
  };
}

/** Ask for camera and microphone; falls back to whichever one works. @returns {Promise<MediaStream>} */
export async function openDevices(camId = "", micId = "") {
  const wanted = constraints(camId, micId);
  try {
    return await navigator.mediaDevices.getUserMedia(wanted);
  } catch {
    for (const only of [{ audio: wanted.audio }, { video: wanted.video }]) {
      try {
        return await navigator.mediaDevices.getUserMedia(only);
      } catch {
        /* try the next one */
      }
    }
  }
  return new MediaStream();
}

/** Media of one participant in one room. Dispatches "change" when any stream appears or goes. */
export class Media extends EventTarget {
  /** @param {Connection} conn @param {RoomState} state */
  constructor(conn, state) {
    super();
    this.conn = conn;
    this.state = state;
    /** @type {MediaStream} */
    this.local = new MediaStream();
    /** @type {MediaStream|null} */
    this.screen = null;
    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    /** @type {Map<string, MediaStream>} mid → a stream holding that one remote track */
    this.remote = new Map();
    /** @type {Map<string, RTCRtpSender>} */
    this.senders = new Map();
    this.available = true;
    /** @type {Map<string, [number, number]>} stats id → [totalAudioEnergy, totalSamplesDuration] */
    this.energy = new Map();
    /** @type {Promise<void>} negotiations run one at a time */
    this.queue = Promise.resolve();
    this.onServerOffer = (/** @type {any} */ e) => this.enqueue(() => this.answer(e.detail.sdp));
    this.onServerCandidate = (/** @type {any} */ e) => this.addCandidate(e.detail);
    this.onPublishLayers = (/** @type {any} */ e) => this.setLayers(e.detail.source, e.detail.active);
    conn.addEventListener("media_offer", this.onServerOffer);
    conn.addEventListener("media_candidate", this.onServerCandidate);
    conn.addEventListener("publish_layers", this.onPublishLayers);
    /** The camera goes out in three layers (the SFU sends each viewer the one its tile needs). */
    this.simulcast = true;
  }

  /**
   * Dynacast: encode only the camera layers someone receives (the server says which).
   * @param {Source} source @param {string[]} active
   */
  async setLayers(source, active) {
    const sender = this.senders.get(source);
    if (!sender) return;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length < 2) return;
    let changed = false;
    for (const enc of params.encodings) {
      const on = !enc.rid || active.includes(enc.rid);
      if (enc.active !== on) {
        enc.active = on;
        changed = true;
      }
    }
    if (changed) await sender.setParameters(params).catch((err) => console.warn("layers:", err));
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  /** Use this camera/microphone stream (from the join page); tracks keep their enabled flags. */
  setLocal(/** @type {MediaStream} */ stream) {
    this.local = stream;
    this.changed();
  }

  /** @param {"audio"|"video"} kind */
  localTrack(kind) {
    return kind === "audio" ? this.local.getAudioTracks()[0] : this.local.getVideoTracks()[0];
  }

  /** Connect to the SFU and publish; a server without media is not an error. */
  async start(/** @type {IceServerInfo[]} */ iceServers) {
    const servers = iceServers.map((s) => ({
      urls: [...s.urls],
      ...(s.username ? { username: s.username } : {}),
      ...(s.credential ? { credential: s.credential } : {}),
    }));
    const pc = new RTCPeerConnection({ iceServers: servers, bundlePolicy: "max-bundle" });
    this.pc = pc;
    pc.onicecandidate = (e) => {
      const c = e.candidate;
      this.conn.mediaCandidate(c ? c.candidate : null, c ? c.sdpMid : null).catch(() => {});
    };
    pc.ontrack = (e) => this.track(e);
    // A network change breaks the ICE path: restart it with a new offer (new ufrag).
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") this.enqueue(() => this.offer(true));
    };
    for (const [source, kind] of /** @type {const} */ ([["mic", "audio"], ["camera", "video"]])) {
      const track = this.localTrack(kind) || null;
      /** @type {RTCRtpTransceiverInit} */
      const init = { direction: "sendonly", streams: [this.local] };
      if (kind === "video" && this.simulcast) init.sendEncodings = SIMULCAST.map((e) => ({ ...e }));
      let tr;
      try {
        tr = pc.addTransceiver(track || kind, init);
      } catch (err) {
        // a browser without simulcast for this camera still publishes it, in one layer
        delete init.sendEncodings;
        tr = pc.addTransceiver(track || kind, init);
      }
      this.senders.set(source, tr.sender);
    }
    const shared = this.screen?.getVideoTracks()[0];
    if (shared && shared.readyState === "live") {
      this.watchScreen(shared);
      const tr = pc.addTransceiver(shared, { direction: "sendonly", streams: [/** @type {MediaStream} */ (this.screen)] });
      this.senders.set("screen", tr.sender);
    }
    await this.enqueue(() => this.offer());
  }

  /** @param {MediaStreamTrack} track */
  watchScreen(track) {
    track.addEventListener("ended", () => {
      if (this.screen?.getVideoTracks()[0] === track) this.dispatchEvent(new Event("screen_ended"));
    });
  }

  /** @param {() => Promise<void>} job */
  enqueue(job) {
    this.queue = this.queue.then(job, job).catch((err) => this.failed(err));
    return this.queue;
  }

  /** @param {any} err */
  failed(err) {
    if (err && err.code === "media_unavailable") this.available = false;
    else console.warn("media:", err);
  }

  async offer(iceRestart = false) {
    const pc = this.pc;
    if (!pc || !this.available) return;
    await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
    /** @type {Record<string, Source>} */
    const sources = {};
    for (const [source, sender] of this.senders) {
      const mid = pc.getTransceivers().find((t) => t.sender === sender)?.mid;
      if (mid) sources[mid] = /** @type {Source} */ (source);
    }
    const reply = await this.conn.mediaOffer(/** @type {string} */ (pc.localDescription?.sdp), sources);
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
  }

  /** @param {string} sdp */
  async answer(sdp) {
    const pc = this.pc;
    if (!pc) return;
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await this.conn.mediaAnswer(/** @type {string} */ (pc.localDescription?.sdp));
  }

  /** @param {{candidate: string|null, sdp_mid: string|null}} c */
  async addCandidate(c) {
    if (!this.pc || !c.candidate) return;
    try {
      await this.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdp_mid ?? "0" });
    } catch (err) {
      console.warn("candidate:", err);
    }
  }

  /** @param {RTCTrackEvent} e */
  track(e) {
    const mid = e.transceiver.mid;
    if (mid === null) return;
    this.remote.set(mid, new MediaStream([e.track]));
    e.track.addEventListener("ended", () => {
      this.remote.delete(mid);
      this.changed();
    });
    this.changed();
  }

  /**
   * The stream to show for a participant's source, or null.
   * @param {string} participant @param {Source} source
   */
  streamFor(participant, source) {
    if (this.state.you && participant === this.state.you.id) {
      if (source === "screen") return this.screen;
      return this.localTrack(source === "mic" ? "audio" : "video") ? this.local : null;
    }
    const view = this.state.tracks.find((t) => t.participant_id === participant && t.source === source);
    return view ? this.remote.get(view.mid) || null : null;
  }

  /**
   * Turn one's microphone or camera on or off locally (the server is told by the caller).
   * @param {"mic"|"camera"} source @param {boolean} on
   */
  async setEnabled(source, on) {
    const kind = source === "mic" ? "audio" : "video";
    let track = this.localTrack(kind);
    if (!track && on) {
      const got = await navigator.mediaDevices.getUserMedia({ [kind]: true });
      track = got.getTracks()[0];
      this.local.addTrack(track);
      await this.senders.get(source)?.replaceTrack(track);
    }
    if (track) track.enabled = on;
    this.changed();
  }

  /** Share the screen; resolves false when the user cancels. */
  async startScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    this.screen = stream;
    const track = stream.getVideoTracks()[0];
    this.watchScreen(track);
    if (this.pc && this.available) {
      const sender = this.senders.get("screen");
      if (sender) await sender.replaceTrack(track);
      else {
        const tr = this.pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
        this.senders.set("screen", tr.sender);
        await this.enqueue(() => this.offer());
      }
    }
    this.changed();
    return true;
  }

  async stopScreen() {
    if (!this.screen) return;
    for (const track of this.screen.getTracks()) track.stop();
    this.screen = null;
    await this.senders.get("screen")?.replaceTrack(null);
    this.changed();
  }

  /**
   * Audio levels (0..1) since the last call, by participant, from the connection's audio
   * energy counters: remote microphones (inbound-rtp) and one's own (media-source). Short
   * sounds between two calls count too. Used for the speaking ring until the SFU sends
   * "speaking" events.
   * @returns {Promise<Map<string, number>>}
   */
  async levels() {
    const levels = new Map();
    const you = this.state.you;
    if (!this.pc || !you) return levels;
    const mics = new Map(this.state.tracks.filter((t) => t.source === "mic").map((t) => [t.mid, t.participant_id]));
    const ownOn = you.media.mic && Boolean(this.localTrack("audio")?.enabled);
    for (const s of (await this.pc.getStats()).values()) {
      if (s.kind !== "audio" || s.totalAudioEnergy === undefined) continue;
      const who = s.type === "inbound-rtp" ? mics.get(s.mid) : s.type === "media-source" && ownOn ? you.id : undefined;
      if (!who) continue;
      const key = `${s.type}:${s.id}`;
      const before = this.energy.get(key);
      this.energy.set(key, [s.totalAudioEnergy, s.totalSamplesDuration]);
      const span = before ? s.totalSamplesDuration - before[1] : 0;
      if (before && span > 0) levels.set(who, Math.sqrt(Math.max(0, s.totalAudioEnergy - before[0]) / span));
    }
    return levels;
  }

  /** Round-trip time and loss of the SFU connection, for the network indicator. */
  async quality() {
    if (!this.pc || this.pc.connectionState !== "connected") return null;
    const stats = await this.pc.getStats();
    let rtt = null;
    for (const s of stats.values()) {
      if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
        rtt = s.currentRoundTripTime;
      }
    }
    return rtt;
  }

  /** Stop everything; idempotent. Local devices survive unless `devices` is true. */
  close(devices = false) {
    this.conn.removeEventListener("media_offer", this.onServerOffer);
    this.conn.removeEventListener("media_candidate", this.onServerCandidate);
    this.conn.removeEventListener("publish_layers", this.onPublishLayers);
    this.pc?.close();
    this.pc = null;
    this.remote.clear();
    this.senders.clear();
    if (devices) {
      for (const track of this.local.getTracks()) track.stop();
      this.screen?.getTracks().forEach((track) => track.stop());
      this.screen = null;
    }
  }
}
