// Small shared pieces of the interface: toasts, a yes/no prompt, the knock sound.

import { h, $ } from "./dom.js";

const MAX_TOASTS = 3;

/**
 * Show a short message in the live region. A toast with the same key replaces the older one
 * (eight knocks make one line, not eight).
 * @param {string} text @param {{ms?: number, key?: string}} [opts]
 */
export function toast(text, opts = {}) {
  const box = $("toasts");
  const key = opts.key || text;
  for (const old of box.children) {
    if (/** @type {HTMLElement} */ (old).dataset.key === key) old.remove();
  }
  while (box.children.length >= MAX_TOASTS) box.firstElementChild?.remove();
  const el = h("p", { class: "toast", text, "data-key": key });
  box.append(el);
  window.setTimeout(() => el.remove(), opts.ms || 5000);
}

/** @type {((yes: boolean) => void)|null} */
let answer = null;

/**
 * A non-blocking question with two buttons; resolves true for "yes".
 * @param {string} text @param {string} yes @param {string} no @returns {Promise<boolean>}
 */
export function confirmBox(text, yes, no) {
  const box = $("prompt");
  $("prompt-text").textContent = text;
  $("prompt-yes").textContent = yes;
  $("prompt-no").textContent = no;
  box.hidden = false;
  answer?.(false);
  /** @type {HTMLElement|null} */
  const back = /** @type {HTMLElement|null} */ (document.activeElement);
  $("prompt-yes").focus();
  return new Promise((resolve) => {
    answer = (yes) => {
      answer = null;
      box.hidden = true;
      back?.focus();
      resolve(yes);
    };
  });
}

export function initPrompt() {
  $("prompt-yes").addEventListener("click", () => answer?.(true));
  $("prompt-no").addEventListener("click", () => answer?.(false));
  $("prompt").addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
    if (e.key === "Escape") answer?.(false);
  });
}

/** @type {AudioContext|null} */
let audio = null;

/** Two soft tones: someone knocks at the waiting room. */
export function knockSound() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [660, 880].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.17);
    }
  } catch {
    /* no audio output: the visual cue remains */
  }
}
