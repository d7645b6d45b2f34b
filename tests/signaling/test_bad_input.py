"""Bad input gets a clear error with a stable code, changes nothing, and the room keeps working."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from signaling import auth
from signaling import messages as m
from tests.signaling.conftest import SECRET, Peer, Urok


async def _snapshot(urok: Urok, room: str) -> tuple[object, ...]:
    live = await urok.hub_room(room)
    return (
        sorted(
            (p.id, p.rank, tuple(sorted(p.media.items())), p.hand)
            for p in live.participants.values()
        ),
        list(live.waiting),
        list(live.chat),
        live.record.settings,
        sorted((await urok.store.hgetall(f"room:{room}:participants")).items()),
    )


FRAMES: list[tuple[str | bytes, str]] = [
    ("{not json", "bad_json"),
    (b"\xff\xfe\x00garbage", "bad_json"),
    ("[]", "invalid_message"),
    ("42", "invalid_message"),
    ('{"type": "fly_to_moon", "id": 1}', "unknown_type"),
    ('{"id": 2}', "unknown_type"),
    ('{"type": "mute", "id": 3, "participant": 5, "source": "mic"}', "invalid_message"),
    ('{"type": "mute", "id": 4, "participant": "x", "source": "nose"}', "invalid_message"),
    ('{"type": "chat_send", "id": 5, "text": null}', "invalid_message"),
    ('{"type": "raise_hand"}', "invalid_message"),
    ('{"type": "admit", "id": {"nested": true}, "participant": "x"}', "invalid_message"),
    ('{"type": "set_media", "id": 6, "source": "mic", "enabled": "yes"}', "invalid_message"),
]


@pytest.mark.parametrize(("frame", "code"), FRAMES)
async def test_malformed_frames_change_nothing(urok: Urok, frame: str | bytes, code: str) -> None:
    room, host = await urok.lesson()
    kid = await urok.admitted(room, "Кирилл")
    await kid.ok(m.ChatSend(id=Peer.rid(), text="до"))
    await kid.next(m.ChatPosted)
    before = await _snapshot(urok, room)
    await kid.send_raw(frame)
    error = await kid.next(m.Error)
    assert error.code == code and error.message
    assert await _snapshot(urok, room) == before
    await kid.alive()
    await host.ok(m.ChatSend(id=Peer.rid(), text="работаем"))
    assert (await kid.next(m.ChatPosted)).message.text == "работаем"


async def test_oversized_frame_gets_an_error_and_the_connection_lives(urok: Urok) -> None:
    room, host = await urok.lesson()
    kid = await urok.admitted(room, "Большой")
    before = await _snapshot(urok, room)
    big = json.dumps({"type": "chat_send", "id": 77, "text": "я" * 150000})
    assert len(big.encode()) > 256 * 1024
    await kid.send_raw(big)
    error = await kid.reply_to(77)
    assert isinstance(error, m.Error) and error.code == "message_too_large"
    assert await _snapshot(urok, room) == before
    await kid.alive()


async def test_unknown_ids(urok: Urok) -> None:
    room, host = await urok.lesson()
    for msg in (
        m.Admit(id=Peer.rid(), participant="nobody"),
        m.Deny(id=Peer.rid(), participant="nobody"),
        m.Mute(id=Peer.rid(), participant="nobody", source="mic"),
        m.Remove(id=Peer.rid(), participant="nobody"),
        m.Promote(id=Peer.rid(), participant="nobody"),
        m.LowerHand(id=Peer.rid(), participant="nobody"),
    ):
        assert await host.refused(msg) == "unknown_participant"
    assert await host.refused(m.ChatPin(id=Peer.rid(), message="nothing")) == "unknown_message"
    peer = await urok.connect()
    reply = await peer.request(m.Join(id=1, room="no-such-room", version=1, name="x"))
    assert isinstance(reply, m.Error) and reply.code == "room_not_found"
    await peer.alive()


def _forged(room: str) -> str:
    return auth.mint(
        "another-secret-entirely-0123456789", user_id="x", name="X", role="teacher", room=room
    )


def _expired(room: str) -> str:
    return auth.mint(
        SECRET, user_id="x", name="X", role="teacher", room=room, ttl_s=60, now=time.time() - 3600
    )


def _no_signature(room: str) -> str:
    claims = {"iss": "urok", "sub": "x", "name": "X", "role": "admin", "exp": time.time() + 60}
    return jwt.encode(claims, key="", algorithm="none")


def _wrong_role(room: str) -> str:
    claims = {"iss": "urok", "sub": "x", "name": "X", "role": "god", "exp": time.time() + 60}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (_forged, "token_invalid"),
        (_expired, "token_expired"),
        (_no_signature, "token_invalid"),
        (_wrong_role, "token_invalid"),
        (
            lambda room: auth.mint(SECRET, user_id="x", name="X", role="teacher", room="other"),
            "token_wrong_room",
        ),
        (
            lambda room: auth.mint(SECRET, user_id="x", name="X", role="teacher", org="school2"),
            "token_wrong_room",
        ),
        (lambda room: "not.a.token", "token_invalid"),
    ],
)
async def test_bad_tokens_are_refused(urok: Urok, make: object, code: str) -> None:
    room, host = await urok.lesson()
    peer = await urok.connect()
    token = make(room)  # type: ignore[operator]
    reply = await peer.request(m.Join(id=1, room=room, version=1, token=token))
    assert isinstance(reply, m.Error) and reply.code == code
    await peer.alive()
    live = await urok.hub_room(room)
    assert len(live.participants) == 1 and not live.waiting


async def test_guests_need_permission_and_a_name(urok: Urok) -> None:
    room, host = await urok.lesson()
    _, reply = await urok.join(room, "Гость", "guest")
    assert isinstance(reply, m.Error) and reply.code == "guests_not_allowed"
    room2, _ = await urok.lesson(guests_allowed=True)
    _, nameless = await urok.join(room2, "   ", "guest")
    assert isinstance(nameless, m.Error) and nameless.code == "name_required"


async def test_version_and_double_join(urok: Urok) -> None:
    room, host = await urok.lesson()
    peer = await urok.connect()
    reply = await peer.request(
        m.Join(id=1, room=room, version=99, token=urok.token("A", "student", room))
    )
    assert isinstance(reply, m.Error) and reply.code == "unsupported_version"
    assert await host.refused(
        m.Join(id=2, room=room, version=1, token=urok.token("B", "teacher", room))
    ) == ("already_joined")
    assert await peer.refused(m.RaiseHand(id=3)) == "not_joined"


async def test_a_dead_slow_client_is_dropped_and_the_room_goes_on(urok: Urok) -> None:
    from signaling.session import Session

    room, host = await urok.lesson()
    kid = await urok.admitted(room, "Медленный")
    live = await urok.hub_room(room)
    slow: Session = live.participants[kid.me].session
    slow._outbox = type(slow._outbox)(maxsize=1)  # a socket that cannot keep up
    slow._writer.cancel()  # ... and never drains
    for i in range(3):
        await host.ok(m.ChatSend(id=Peer.rid(), text=f"{i}"))
    assert slow.closed and slow.close_reason == "slow_client"
    await host.alive()
