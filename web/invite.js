// An invite link (/i/{id}): the person gives their name, one use of the link becomes their
// join token, and they go on to the room (or are told they are registered).

import { $ } from "./dom.js";
import { has, pickLanguage, setLanguage, t } from "./i18n/index.js";

const inviteId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean)[1] || "");

async function redeem(event) {
  event.preventDefault();
  const name = /** @type {HTMLInputElement} */ ($("invite-name")).value.trim();
  const resp = await fetch(`/api/invites/${encodeURIComponent(inviteId)}/redeem`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const body = await resp.json().catch(() => ({}));
  if (resp.ok) {
    sessionStorage.setItem("urok:token", body.token);
    if (body.join_url) {
      window.location.assign(new URL(body.join_url).pathname + new URL(body.join_url).search);
    } else {
      $("invite-error").textContent = t("invite.registered");
    }
    return;
  }
  const code = body.error ? body.error.code : String(resp.status);
  $("invite-error").textContent = has(`invite.${code}`) ? t(`invite.${code}`) : t("invite.failed", { code });
}

setLanguage(pickLanguage());
$("invite-form").addEventListener("submit", (e) => redeem(e).catch(() => {}));
