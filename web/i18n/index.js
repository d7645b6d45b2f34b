// Message catalogues: Russian by default, English by ?lang=en, a saved choice, or the browser.
// Every user-visible string lives in ru.js / en.js; markup names keys with data-i18n* attributes.

import ru from "./ru.js";
import en from "./en.js";

/** @type {Record<string, Record<string, string>>} */
const CATALOGUES = { ru, en };
export const LANGUAGES = ["ru", "en"];
const STORAGE_KEY = "urok:lang";

let current = "ru";

/** The language to start in: URL, then a saved choice, then the browser (English or Russian). */
export function pickLanguage(search = window.location.search, nav = navigator) {
  const asked = new URLSearchParams(search).get("lang");
  if (asked && asked in CATALOGUES) return asked;
  const saved = window.localStorage.getItem(STORAGE_KEY);
  if (saved && saved in CATALOGUES) return saved;
  const browser = (nav.languages && nav.languages[0]) || nav.language || "ru";
  return browser.toLowerCase().startsWith("en") ? "en" : "ru";
}

export function lang() {
  return current;
}

/** @param {string} code @param {boolean} [remember] */
export function setLanguage(code, remember = false) {
  current = code in CATALOGUES ? code : "ru";
  document.documentElement.lang = current;
  if (remember) window.localStorage.setItem(STORAGE_KEY, current);
  localize(document);
}

/**
 * A string from the current catalogue with {name} placeholders filled in (as plain text).
 * @param {string} key @param {Record<string, string|number>} [params]
 */
export function t(key, params = {}) {
  const text = CATALOGUES[current][key] ?? CATALOGUES.ru[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Whether a key exists (used for error codes). @param {string} key */
export function has(key) {
  return key in CATALOGUES[current];
}

const ATTRS = [
  ["data-i18n-aria", "aria-label"],
  ["data-i18n-ph", "placeholder"],
  ["data-i18n-title", "title"],
];

/** Fill text and attributes of every element under root that names a key. @param {ParentNode} root */
export function localize(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(/** @type {string} */ (el.getAttribute("data-i18n")));
  }
  for (const [data, attr] of ATTRS) {
    for (const el of root.querySelectorAll(`[${data}]`)) {
      el.setAttribute(attr, t(/** @type {string} */ (el.getAttribute(data))));
    }
  }
}

/** A time of day in the current language. @param {number} unixSeconds */
export function clock(unixSeconds) {
  const locale = current === "en" ? "en-GB" : "ru-RU";
  return new Date(unixSeconds * 1000).toLocaleTimeString(locale, {
    hour: "2-digit",
    minute: "2-digit",
  });
}
