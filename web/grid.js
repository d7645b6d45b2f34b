// The picture: a paged grid of tiles, the screen share (or the active speaker) as the main view.
// Only the current page has tiles; a participant's change redraws that one tile.

import { h, $, initials } from "./dom.js";
import { t } from "./i18n/index.js";
import { icon } from "./icons.js";

/** @typedef {import("./protocol.js").ParticipantInfo} ParticipantInfo */
/** @typedef {import("./state.js").RoomState} RoomState */
/** @typedef {import("./media.js").Media} Media */
/** @typedef {{participant: string, source: string, width: number, height: number}} ViewTile */

const STRIP_TILE_PX = 200; // the min tile width of the strip under a main picture (12em)

/**
 * Tiles per page: 3×3 on ordinary screens, 4×4 on wide ones; one row that fits under a main
 * picture (screen share or speaker).
 * @param {boolean} strip @param {number} width
 */
function pageSize(strip, width) {
  if (strip) return Math.max(2, Math.floor(width / STRIP_TILE_PX));
  return window.innerWidth >= 1600 ? 16 : 9;
}

/** One participant's picture with name, verified mark, mic state, hand and speaking ring. */
class Tile {
  /** @param {ParticipantInfo} p */
  constructor(p) {
    this.id = p.id;
    this.video = /** @type {HTMLVideoElement} */ (h("video", { autoplay: true, playsinline: true }));
    this.video.muted = true; // sound plays from the audio elements, never from tiles
    this.avatar = h("div", { class: "avatar", "aria-hidden": "true" });
    this.name = h("span", { class: "name" });
    this.verified = h("span", { class: "verified", role: "img" }, icon("check"));
    this.mic = h("span", { class: "mic-off", role: "img" }, icon("micOff"));
    this.hand = h("span", { class: "hand", role: "img" }, icon("hand"));
    const label = h("div", { class: "label" }, this.mic, this.name, this.verified, this.hand);
    this.el = h("div", { class: "tile", role: "listitem" }, this.avatar, this.video, label);
    /** @type {MediaStream|null} */
    this.stream = null;
  }

  /** @param {ParticipantInfo} p @param {boolean} you @param {boolean} speaking */
  update(p, you, speaking) {
    const name = you ? t("tile.you", { name: p.name }) : p.name;
    this.name.textContent = name;
    this.avatar.textContent = initials(p.name);
    this.verified.hidden = !p.verified;
    this.verified.setAttribute("aria-label", t("tile.verified"));
    this.verified.title = t("tile.verified");
    this.mic.hidden = p.media.mic;
    this.mic.setAttribute("aria-label", t("tile.micOff"));
    this.hand.hidden = p.hand === null;
    this.hand.setAttribute("aria-label", t("tile.hand"));
    this.el.classList.toggle("speaking", speaking);
    this.el.classList.toggle("muted", !p.media.mic);
    this.el.classList.toggle("teacher", p.role === "teacher" || p.role === "admin");
    this.el.classList.toggle("away", !p.connected);
    this.el.dataset.participant = p.id;
    const states = [name];
    if (p.verified) states.push(t("tile.verified"));
    states.push(p.media.mic ? t("tile.micOn") : t("tile.micOff"));
    if (p.hand !== null) states.push(t("tile.hand"));
    if (!p.connected) states.push(t("tile.away"));
    this.el.setAttribute("aria-label", states.join(", "));
  }

  /** @param {MediaStream|null} stream */
  show(stream) {
    if (stream !== this.stream) {
      this.stream = stream;
      this.video.srcObject = stream;
    }
    this.el.classList.toggle("has-video", stream !== null);
  }
}

export class Grid {
  /** @param {RoomState} state @param {() => Media|null} media */
  constructor(state, media) {
    this.state = state;
    this.media = media;
    this.grid = $("grid");
    this.main = $("main-view");
    this.pager = $("pager");
    /** @type {Map<string, Tile>} */
    this.tiles = new Map();
    this.page = 0;
    this.speakerView = false;
    this.frame = 0;
    /** What the viewer looks at, for the SFU's layer choice: [{participant, source, width, height}]. */
    this.view = { page: 0, tiles: /** @type {ViewTile[]} */ ([]) };
    /** Called with the tiles when they change (the call sends them to the server as "view"). */
    this.onView = (/** @type {ViewTile[]} */ _tiles) => {};
    this.sentView = "";
    const later = () => this.schedule();
    for (const type of ["reset", "left", "tracks"]) state.addEventListener(type, later);
    state.addEventListener("speaking", () => this.speakingChanged());
    state.addEventListener("participant", (e) => this.changed(/** @type {CustomEvent} */ (e)));
    window.addEventListener("resize", later);
    $("page-prev").addEventListener("click", () => this.turn(-1));
    $("page-next").addEventListener("click", () => this.turn(1));
  }

  /** @param {CustomEvent} e */
  changed(e) {
    const { id, before } = e.detail;
    const p = this.state.participants.get(id);
    if (!p) return;
    const tile = this.tiles.get(id);
    // Arrivals, rank changes and screen shares can move tiles between pages; anything else
    // redraws one tile, or nothing when the person is on another page.
    const moves = !before || before.rank !== p.rank || before.media.screen !== p.media.screen;
    if (moves) this.schedule();
    else if (tile) this.paint(tile, p);
  }

  /** Redraw once per animation frame however many events arrive. */
  schedule() {
    if (this.frame) return;
    this.frame = window.requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Only the rings move (and the main picture in speaker view). */
  speakingChanged() {
    for (const tile of this.tiles.values()) {
      const on = this.state.speaking.has(tile.id);
      tile.el.classList.toggle("speaking", on);
      tile.el.classList.toggle("dominant", on && this.state.dominant === tile.id);
    }
    if (this.speakerView) {
      this.renderMain();
      this.measure();
    }
  }

  /** @param {number} step */
  turn(step) {
    this.page += step;
    this.render();
  }

  /** Teachers and hosts first, then you, then everyone else in order of arrival. */
  order() {
    const you = this.state.you?.id;
    const weight = (/** @type {ParticipantInfo} */ p) =>
      p.rank === "host" ? 0 : p.role === "teacher" || p.role === "admin" ? 1 : p.id === you ? 2 : 3;
    return [...this.state.participants.values()]
      .map((p, i) => ({ p, i, w: weight(p) }))
      .sort((a, b) => a.w - b.w || a.i - b.i)
      .map((x) => x.p);
  }

  render() {
    const people = this.order();
    const strip = this.hasMain();
    document.body.classList.toggle("has-main", strip);
    const size = pageSize(strip, this.grid.clientWidth || window.innerWidth);
    const pages = Math.max(1, Math.ceil(people.length / size));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const shown = people.slice(this.page * size, (this.page + 1) * size);
    const keep = new Set(shown.map((p) => p.id));
    for (const [id, tile] of this.tiles) {
      if (!keep.has(id)) {
        tile.el.remove();
        this.tiles.delete(id);
      }
    }
    const frag = document.createDocumentFragment();
    for (const p of shown) {
      let tile = this.tiles.get(p.id);
      if (!tile) {
        tile = new Tile(p);
        this.tiles.set(p.id, tile);
      }
      this.paint(tile, p);
      frag.append(tile.el);
    }
    this.grid.append(frag);
    this.grid.dataset.count = String(Math.min(shown.length, size));
    this.renderPager(pages);
    this.renderMain();
    this.measure();
  }

  /** @param {number} pages */
  renderPager(pages) {
    this.pager.hidden = pages < 2;
    $("page-label").textContent = t("pager.page", { page: this.page + 1, pages });
    $("page-prev").disabled = this.page === 0;
    $("page-next").disabled = this.page >= pages - 1;
  }

  /** @param {Tile} tile @param {ParticipantInfo} p */
  paint(tile, p) {
    const you = p.id === this.state.you?.id;
    tile.update(p, you, this.state.speaking.has(p.id));
    const media = this.media();
    tile.show(p.media.camera && media ? media.streamFor(p.id, "camera") : null);
  }

  hasMain() {
    const sharing = [...this.state.participants.values()].some((p) => p.media.screen);
    return sharing || (this.speakerView && this.speakerId() !== null);
  }

  /** The screen share when someone shares, else the active speaker in speaker view. */
  renderMain() {
    const sharer = [...this.state.participants.values()].find((p) => p.media.screen);
    const speaker = this.speakerView ? this.speakerId() : null;
    const shown = sharer || (speaker ? this.state.participants.get(speaker) : null);
    this.main.hidden = !shown;
    document.body.classList.toggle("has-main", Boolean(shown));
    if (!shown) {
      this.main.replaceChildren();
      return;
    }
    const source = sharer ? "screen" : "camera";
    const key = `${shown.id}:${source}`;
    const stream = this.media()?.streamFor(shown.id, source) || null;
    let video = /** @type {HTMLVideoElement|null} */ (this.main.querySelector("video"));
    if (this.main.dataset.key !== key || !video) {
      this.main.dataset.key = key;
      video = /** @type {HTMLVideoElement} */ (h("video", { autoplay: true, playsinline: true }));
      video.muted = true;
      const text = sharer ? t("main.sharing", { name: shown.name }) : shown.name;
      this.main.replaceChildren(video, h("p", { class: "caption", text }));
      this.main.setAttribute("aria-label", text);
      this.main.setAttribute("role", "region");
    }
    if (video.srcObject !== stream) video.srcObject = stream;
    this.main.classList.toggle("has-video", stream !== null);
  }

  speakerId() {
    const d = this.state.dominant;
    if (d && d !== this.state.you?.id && this.state.participants.has(d)) return d;
    const host = [...this.state.participants.values()].find((p) => p.rank === "host");
    return host ? host.id : null;
  }

  /** Record the size of every visible tile and tell the server when it changed (the SFU
   * forwards what is on the page, each video in the simulcast layer its size needs). */
  measure() {
    const you = this.state.you?.id;
    /** @type {ViewTile[]} */
    const tiles = [];
    const key = this.main.hidden ? "" : this.main.dataset.key || "";
    if (key) {
      const [participant, source] = key.split(":");
      if (participant !== you) {
        tiles.push({ participant, source, width: this.main.clientWidth, height: this.main.clientHeight });
      }
    }
    for (const tile of this.tiles.values()) {
      if (tile.id === you || tiles.some((v) => v.participant === tile.id && v.source === "camera")) continue;
      tiles.push({ participant: tile.id, source: "camera", width: tile.el.clientWidth, height: tile.el.clientHeight });
    }
    this.view = { page: this.page, tiles: tiles.slice(0, 100) };
    const text = JSON.stringify(this.view.tiles);
    if (text !== this.sentView) {
      this.sentView = text;
      this.onView(this.view.tiles);
    }
  }

  /** Attach streams again after the media layer changed. */
  refresh() {
    for (const tile of this.tiles.values()) {
      const p = this.state.participants.get(tile.id);
      if (p) this.paint(tile, p);
    }
    this.renderMain();
  }
}
