// Line icons drawn as inline SVG (no icon font, no emoji font needed on the machine).

const SVG = "http://www.w3.org/2000/svg";

/** @type {Record<string, string>} 24×24 stroke paths */
const PATHS = {
  mic: "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z M5 11a7 7 0 0 0 14 0 M12 18v3 M8 21h8",
  micOff: "M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z M5 11a7 7 0 0 0 14 0 M12 18v3 M8 21h8 M3 3l18 18",
  camera: "M3 7h12v10H3z M15 10l6-3v10l-6-3z",
  cameraOff: "M3 7h12v10H3z M15 10l6-3v10l-6-3z M3 3l18 18",
  screen: "M3 4h18v12H3z M8 20h8 M12 16v4",
  hand: "M8 13V6a1.5 1.5 0 0 1 3 0v5 M11 11V4.5a1.5 1.5 0 0 1 3 0V11 M14 11V6a1.5 1.5 0 0 1 3 0v7c0 4-3 7-6 7s-4.5-1.5-6-4l-2-3.5a1.5 1.5 0 0 1 2.5-1.5L8 13",
  people: "M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6z M3 20a6 6 0 0 1 12 0 M16 5a3 3 0 0 1 0 6 M17 14a5 5 0 0 1 4 6",
  chat: "M4 5h16v11H9l-5 4z",
  speaker: "M3 4h18v11H3z M3 19h5 M10 19h4 M16 19h5",
  leave: "M10 17l5-5-5-5 M15 12H3 M14 4h6v16h-6",
  check: "M5 12l4 4 10-10",
  more: "M5 12h.01 M12 12h.01 M19 12h.01",
  away: "M12 7v5l3 2 M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z",
  lock: "M6 11h12v9H6z M8 11V8a4 4 0 0 1 8 0v3",
};

/** @type {Map<string, SVGSVGElement>} built once, cloned after (300 list rows stay cheap) */
const made = new Map();

/** An icon element (decorative unless given a label). @param {string} name @param {string} [label] */
export function icon(name, label = "") {
  const key = `${name}\n${label}`;
  let svg = made.get(key);
  if (!svg) {
    svg = build(name, label);
    made.set(key, svg);
  }
  return /** @type {SVGSVGElement} */ (svg.cloneNode(true));
}

/** @param {string} name @param {string} label */
function build(name, label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `ic ic-${name}`);
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", name === "more" ? "3.5" : "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[name] || "");
  svg.append(path);
  return svg;
}

/** Replace every <span data-icon="name"> under root with its icon. @param {ParentNode} root */
export function fillIcons(root) {
  for (const el of root.querySelectorAll("[data-icon]")) {
    el.replaceWith(icon(/** @type {string} */ (el.getAttribute("data-icon"))));
  }
}
