// The join page: who you are (from the link's token, or a name for guests), a camera and
// microphone preview with device choice, and whether to come in with the microphone on.

import { $ } from "./dom.js";
import { t, has } from "./i18n/index.js";
import { openDevices } from "./media.js";
import { store } from "./client.js";

/** What the page can read from a join token without verifying it (the server verifies). */
export function tokenClaims(/** @type {string} */ token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** A localized sentence for a protocol error code. @param {string} code @param {string} [message] */
export function errorText(code, message = "") {
  return has(`error.${code}`) ? t(`error.${code}`) : t("error.unknown", { message: message || code });
}

export class JoinPage {
  /**
   * @param {{room: string, token: string}} opts
   * @param {(choice: {name: string, local: MediaStream}) => void} onJoin
   */
  constructor(opts, onJoin) {
    this.room = opts.room;
    this.token = opts.token;
    this.onJoin = onJoin;
    this.claims = opts.token ? tokenClaims(opts.token) : null;
    /** @type {MediaStream} */
    this.stream = new MediaStream();
    this.started = false;
    /** @type {{code: string, message: string}|null} the error shown, kept to re-translate */
    this.error = null;
    $("join-form").addEventListener("submit", (/** @type {Event} */ e) => {
      e.preventDefault();
      this.submit();
    });
    $("cam-select").addEventListener("change", () => this.preview());
    $("mic-select").addEventListener("change", () => this.preview());
    $("join-cam-on").addEventListener("change", () => this.showPreviewState());
  }

  /** Show the page (again): fill identity, defaults and the preview. */
  async show(/** @type {{code: string, message: string}|null} */ error = null) {
    const guest = !this.claims;
    $("name-field").hidden = !guest;
    const who = $("join-who");
    who.hidden = guest;
    if (this.claims) who.textContent = t("join.as", { name: String(this.claims.name || "") });
    const saved = store.load(this.room);
    if (guest && saved.name) /** @type {HTMLInputElement} */ ($("join-name")).value = saved.name;
    const role = this.claims?.role || "guest";
    const micDefault = role === "teacher" || role === "admin";
    /** @type {HTMLInputElement} */ ($("join-mic-on")).checked = saved.mic ?? micDefault;
    /** @type {HTMLInputElement} */ ($("join-cam-on")).checked = saved.camera ?? true;
    this.error = error;
    $("join-error").textContent = error ? errorText(error.code, error.message) : "";
    /** @type {HTMLButtonElement} */ ($("join-button")).disabled = false;
    const live = this.stream.getTracks().some((track) => track.readyState === "live");
    if (!this.started || !live) {
      this.started = true;
      await this.preview();
      this.roomInfo();
    }
    if (guest) $("join-name").focus();
    else $("join-button").focus();
  }

  /** The room's title, and an early word when it has ended or bars guests. */
  async roomInfo() {
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(this.room)}/info`);
      if (!res.ok) return;
      const info = await res.json();
      if (info.title) {
        $("room-title").textContent = info.title;
        document.title = `${info.title} — urok`;
      }
      if (info.ended) this.fail("room_ended");
      else if (!info.guests_allowed && !this.claims) this.fail("guests_not_allowed");
    } catch {
      /* the join itself will tell */
    }
  }

  /** @param {string} code @param {string} [message] */
  fail(code, message = "") {
    this.error = { code, message };
    $("join-error").textContent = errorText(code, message);
  }

  /** The language changed: redraw what was filled in from code. */
  relabel() {
    if (this.claims) $("join-who").textContent = t("join.as", { name: String(this.claims.name || "") });
    if (this.error) $("join-error").textContent = errorText(this.error.code, this.error.message);
    this.showPreviewState();
  }

  async preview() {
    const cam = /** @type {HTMLSelectElement} */ ($("cam-select")).value;
    const mic = /** @type {HTMLSelectElement} */ ($("mic-select")).value;
    for (const track of this.stream.getTracks()) track.stop();
    this.stream = await openDevices(cam, mic);
    /** @type {HTMLVideoElement} */ ($("preview")).srcObject = this.stream;
    await this.listDevices();
    this.showPreviewState();
  }

  async listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const current = {
      videoinput: this.stream.getVideoTracks()[0]?.getSettings().deviceId,
      audioinput: this.stream.getAudioTracks()[0]?.getSettings().deviceId,
    };
    for (const [kind, id] of /** @type {const} */ ([["videoinput", "cam-select"], ["audioinput", "mic-select"]])) {
      const select = /** @type {HTMLSelectElement} */ ($(id));
      const options = devices.filter((d) => d.kind === kind).map((d, i) => {
        const label = d.label || t(kind === "videoinput" ? "join.cameraN" : "join.micN", { n: i + 1 });
        const opt = new Option(label, d.deviceId);
        opt.selected = d.deviceId === current[kind];
        return opt;
      });
      if (options.length === 0) options.push(new Option(t("join.noDevice"), ""));
      select.replaceChildren(...options);
    }
  }

  showPreviewState() {
    const camOn = /** @type {HTMLInputElement} */ ($("join-cam-on")).checked;
    const hasCam = this.stream.getVideoTracks().length > 0;
    const off = $("preview-off");
    off.hidden = camOn && hasCam;
    off.textContent = hasCam ? t("join.camOff") : t("join.noCamera");
    $("preview").hidden = !(camOn && hasCam);
  }

  submit() {
    const nameInput = /** @type {HTMLInputElement} */ ($("join-name"));
    const name = this.claims ? "" : nameInput.value.trim();
    if (!this.claims && !name) {
      this.fail("name_required");
      nameInput.focus();
      return;
    }
    const mic = /** @type {HTMLInputElement} */ ($("join-mic-on")).checked;
    const camera = /** @type {HTMLInputElement} */ ($("join-cam-on")).checked;
    store.save(this.room, { mic, camera, name });
    for (const track of this.stream.getAudioTracks()) track.enabled = mic;
    for (const track of this.stream.getVideoTracks()) track.enabled = camera;
    this.error = null;
    $("join-error").textContent = "";
    /** @type {HTMLButtonElement} */ ($("join-button")).disabled = true;
    this.onJoin({ name, local: this.stream });
  }
}
