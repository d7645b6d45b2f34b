// The start page: a room code or a pasted link leads to the room's join page.

import { $ } from "./dom.js";
import { t, setLanguage, pickLanguage, lang } from "./i18n/index.js";

/** The room path for what the person typed: a full link (kept as is) or a bare code. */
export function roomPath(/** @type {string} */ typed) {
  const text = typed.trim();
  const link = text.match(/\/r\/([\w-]+)(\?[^#\s]*)?/);
  if (link) return `/r/${link[1]}${link[2] || ""}`;
  return /^[\w-]{1,64}$/.test(text) ? `/r/${text}` : "";
}

setLanguage(pickLanguage());
const select = /** @type {HTMLSelectElement} */ ($("lang-select"));
select.value = lang();
select.addEventListener("change", () => setLanguage(select.value, true));
$("go").addEventListener("submit", (/** @type {Event} */ e) => {
  e.preventDefault();
  const path = roomPath(/** @type {HTMLInputElement} */ ($("room-code")).value);
  if (path) window.location.assign(path);
  else $("go-error").textContent = t("home.bad");
});
