"""Chat rules, reconnection within the grace period, the room cap, fan-out per join."""

from __future__ import annotations

import asyncio

from signaling import messages as m
from tests.signaling.conftest import Peer, Urok


async def test_chat_registered_only_history_delete_pin(urok: Urok) -> None:
    room, host = await urok.lesson(guests_allowed=True)
    kid = await urok.admitted(room, "Маша")
    guest = await urok.admitted(room, "Гость", "guest")
    await kid.ok(m.ChatSend(id=Peer.rid(), text="  <b>Здравствуйте!</b>  "))
    posted = (await host.next(m.ChatPosted)).message
    assert posted.text == "<b>Здравствуйте!</b>" and posted.sender == kid.me
    assert (await guest.next(m.ChatPosted)).message.id == posted.id
    assert await guest.refused(m.ChatSend(id=Peer.rid(), text="привет")) == "chat_registered_only"
    # history and pin on join
    await host.ok(m.ChatPin(id=Peer.rid(), message=posted.id))
    _, late = await urok.join(room, "Завуч", "teacher", user_id="t-late")
    assert isinstance(late, m.Welcome)
    assert [c.id for c in late.chat] == [posted.id] and late.pinned == posted
    # only hosts delete; deleting the pinned message unpins it
    assert await kid.refused(m.ChatDelete(id=Peer.rid(), message=posted.id)) == "not_allowed"
    await host.ok(m.ChatDelete(id=Peer.rid(), message=posted.id))
    assert (await kid.next(m.ChatDeleted)).message == posted.id
    assert await urok.store.lrange(f"room:{room}:chat") == []
    assert await host.refused(m.ChatDelete(id=Peer.rid(), message="nope")) == "unknown_message"


async def test_chat_limits(urok: Urok) -> None:
    room, host = await urok.lesson()
    kid = await urok.admitted(room, "Петя")
    too_long = "я" * (urok.settings.chat_max_chars + 1)
    assert await kid.refused(m.ChatSend(id=Peer.rid(), text=too_long)) == "message_too_long"
    assert await kid.refused(m.ChatSend(id=Peer.rid(), text="   ")) == "empty_message"
    codes = [
        await kid.request(m.ChatSend(id=Peer.rid(), text=f"{i}"))
        for i in range(urok.settings.chat_rate_per_10s + 3)
    ]
    refused = [c for c in codes if isinstance(c, m.Error)]
    assert len(refused) == 3 and {c.code for c in refused} == {"rate_limited"}
    await host.ok(m.SetRoom(id=Peer.rid(), chat=False))
    other = await urok.admitted(room, "Оля")
    assert await other.refused(m.ChatSend(id=Peer.rid(), text="a")) == "chat_disabled"
    await host.ok(m.ChatSend(id=Peer.rid(), text="объявление"))


async def test_chat_history_keeps_the_last_200(urok: Urok) -> None:
    room, host = await urok.lesson()
    live = await urok.hub_room(room)
    for i in range(205):
        host_bucket = live.participants[host.me or ""].chat_bucket
        host_bucket.tokens = host_bucket.capacity
        await host.ok(m.ChatSend(id=Peer.rid(), text=f"сообщение {i}"))
    _, late = await urok.join(room, "Новый", "teacher", user_id="t-new")
    assert isinstance(late, m.Welcome)
    assert len(late.chat) == 200 and late.chat[0].text == "сообщение 5"
    assert len(await urok.store.lrange(f"room:{room}:chat")) == 200


async def test_reconnect_within_grace_keeps_place_and_hand(urok: Urok) -> None:
    room, host = await urok.lesson()
    kid = await urok.admitted(room, "Лёня")
    await kid.ok(m.RaiseHand(id=Peer.rid()))
    await kid.ws.close()
    gone = await host.next(m.ParticipantChanged)
    assert gone.participant.id == kid.me and gone.participant.connected is False
    # back with the resume key: no waiting room, same id, hand still raised
    back, reply = await urok.join(room, "Лёня", resume=kid.resume)
    assert isinstance(reply, m.Welcome)
    assert reply.you.id == kid.me and reply.you.hand is not None
    assert reply.you.connected
    assert (await host.next(m.ParticipantChanged)).participant.connected is True


async def test_guest_reconnects_by_resume_key(urok: Urok) -> None:
    room, host = await urok.lesson(guests_allowed=True)
    guest = await urok.admitted(room, "Гость", "guest")
    await guest.ws.close()
    back, reply = await urok.join(room, "Гость", "guest", resume=guest.resume)
    assert isinstance(reply, m.Welcome) and reply.you.id == guest.me


async def test_after_grace_the_participant_is_gone(urok: Urok) -> None:
    room, host = await urok.lesson()
    kid = await urok.admitted(room, "Тимур")
    await kid.ws.close()
    left = await host.next(m.ParticipantLeft, timeout=urok.settings.reconnect_grace_s + 2)
    assert left.participant == kid.me and left.reason == "disconnected"
    _, again = await urok.join(room, "Тимур", resume=kid.resume)
    assert isinstance(again, m.Waiting)  # a new arrival: the waiting room again


async def test_room_cap_refuses_the_next_one(urok: Urok) -> None:
    room, host = await urok.lesson(max_participants=3, waiting_room=False)
    await urok.admitted(room, "Один")
    await urok.admitted(room, "Два")
    _, reply = await urok.join(room, "Три")
    assert isinstance(reply, m.Error) and reply.code == "room_full"
    await host.alive()


async def test_a_join_costs_each_other_participant_one_message(urok: Urok) -> None:
    room, host = await urok.lesson(waiting_room=False)
    others = [await urok.admitted(room, f"У{i}") for i in range(6)]
    everyone = [host, *others]
    for peer in everyone:
        await peer.drain(0.1)
    await urok.admitted(room, "Новенький")
    await asyncio.sleep(0.1)
    for peer in everyone:
        got = await peer.drain(0.1)
        assert len(got) == 1 and isinstance(got[0], m.ParticipantJoined)
