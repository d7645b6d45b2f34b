// Building DOM without HTML parsing: user text only ever becomes a text node.

/**
 * Create an element. Attributes: "class", "text" (textContent), "on<event>" handlers,
 * booleans (set when true), anything else via setAttribute.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** @param {string} id @returns {any} */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el;
}

/** Remove every child. @param {Element} el */
export function clear(el) {
  el.replaceChildren();
}

const LINK = /\bhttps?:\/\/[^\s<>"']+/g;

/**
 * Chat text as nodes: http(s) links become anchors, everything else stays text.
 * @param {string} text @returns {DocumentFragment}
 */
export function linkify(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    const url = match[0].replace(/[.,;:!?)]+$/, "");
    const start = /** @type {number} */ (match.index);
    frag.append(text.slice(last, start));
    frag.append(h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url }));
    last = start + url.length;
  }
  frag.append(text.slice(last));
  return frag;
}

/** Initials for an avatar. @param {string} name */
export function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return parts.slice(0, 2).map((p) => p[0].toUpperCase()).join("") || "?";
}
