"""The authorisation matrix: role x action -> allowed or refused, enforced by the server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from signaling import messages as m
from tests.signaling.conftest import Peer, Urok

ACTORS = ("host", "cohost", "student", "guest", "waiting")


@dataclass
class Scene:
    victim: str
    knocking: str
    message: str


def _n() -> int:
    return Peer.rid()


ACTIONS: dict[str, Callable[[Scene], m.ClientMessage]] = {
    "admit": lambda s: m.Admit(id=_n(), participant=s.knocking),
    "deny": lambda s: m.Deny(id=_n(), participant=s.knocking),
    "admit_all": lambda s: m.AdmitAll(id=_n()),
    "mute": lambda s: m.Mute(id=_n(), participant=s.victim, source="mic"),
    "mute_all": lambda s: m.MuteAll(id=_n()),
    "request_unmute": lambda s: m.RequestUnmute(id=_n(), participant=s.victim, source="mic"),
    "lock": lambda s: m.SetRoom(id=_n(), locked=True),
    "av_moderation": lambda s: m.SetRoom(id=_n(), participants_may_unmute=False),
    "remove": lambda s: m.Remove(id=_n(), participant=s.victim),
    "ban": lambda s: m.Ban(id=_n(), participant=s.victim),
    "promote": lambda s: m.Promote(id=_n(), participant=s.victim),
    "demote": lambda s: m.Demote(id=_n(), participant=s.victim),
    "transfer_host": lambda s: m.TransferHost(id=_n(), participant=s.victim),
    "end_room": lambda s: m.EndRoom(id=_n()),
    "chat_send": lambda s: m.ChatSend(id=_n(), text="вопрос"),
    "chat_delete": lambda s: m.ChatDelete(id=_n(), message=s.message),
    "chat_pin": lambda s: m.ChatPin(id=_n(), message=s.message),
    "lower_other_hand": lambda s: m.LowerHand(id=_n(), participant=s.victim),
    "lower_all_hands": lambda s: m.LowerAllHands(id=_n()),
    "start_recording": lambda s: m.StartRecording(id=_n()),
    "stop_recording": lambda s: m.StopRecording(id=_n()),
    "set_layout": lambda s: m.SetLayout(id=_n(), layout="grid"),
    "raise_hand": lambda s: m.RaiseHand(id=_n()),
    "unmute_self": lambda s: m.SetMedia(id=_n(), source="mic", enabled=True),
    "media_offer": lambda s: m.MediaOffer(id=_n(), sdp="v=0"),
}

H, C, S, G, W = ACTORS
MODERATORS = {H, C}
ALLOWED: dict[str, set[str]] = {
    **{a: MODERATORS for a in ("admit", "deny", "admit_all", "mute", "mute_all", "request_unmute")},
    **{a: MODERATORS for a in ("lock", "av_moderation", "remove", "ban")},
    **{a: MODERATORS for a in ("start_recording", "stop_recording", "set_layout")},
    **{a: MODERATORS for a in ("chat_delete", "chat_pin", "lower_other_hand", "lower_all_hands")},
    **{a: {H} for a in ("promote", "demote", "transfer_host", "end_room")},
    "chat_send": {H, C, S},
    **{a: {H, C, S, G} for a in ("raise_hand", "unmute_self", "media_offer")},
}
EXPECTED_CODE = {W: "not_admitted", G: "not_allowed", S: "not_allowed", C: "not_allowed"}


def test_the_matrix_covers_every_action() -> None:
    assert set(ALLOWED) == set(ACTIONS)


async def _scene(urok: Urok, actor: str) -> tuple[Peer, Scene]:
    room, host = await urok.lesson(guests_allowed=True)
    victim = await urok.admitted(room, "Жертва")
    await victim.ok(m.RaiseHand(id=_n()))
    await victim.ok(m.ChatSend(id=_n(), text="сообщение"))
    message = (await victim.next(m.ChatPosted)).message.id
    peers = {
        H: host,
        C: (await urok.join(room, "Соведущий", "teacher", user_id="t-co"))[0],
        S: await urok.admitted(room, "Ученик"),
        G: await urok.admitted(room, "Гость", "guest"),
    }
    waiting_peer, _ = await urok.join(room, "Ждущий")
    peers[W] = waiting_peer
    _, knock = await urok.join(room, "Стучится")
    assert isinstance(knock, m.Waiting) and victim.me
    return peers[actor], Scene(victim=victim.me, knocking=knock.you.id, message=message)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", sorted(ACTIONS))
async def test_authorization(urok: Urok, action: str, actor: str) -> None:
    peer, scene = await _scene(urok, actor)
    reply = await peer.request(ACTIONS[action](scene))
    if actor in ALLOWED[action]:
        assert not isinstance(reply, m.Error), (action, actor, reply)
        return
    assert isinstance(reply, m.Error), (action, actor, reply)
    expected = EXPECTED_CODE[actor]
    if action == "chat_send" and actor == G:
        expected = "chat_registered_only"
    assert reply.code == expected
    await peer.alive()
