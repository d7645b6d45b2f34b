"""The waiting room: queue, admit / deny / admit all, and the ways people try to get around it."""

from __future__ import annotations

from signaling import messages as m
from tests.signaling.conftest import Peer, Urok


async def test_host_admits_and_denies_in_order(urok: Urok) -> None:
    room, host = await urok.lesson()
    anna, first = await urok.join(room, "Анна")
    boris, second = await urok.join(room, "Борис")
    assert isinstance(first, m.Waiting) and first.position == 1
    assert isinstance(second, m.Waiting) and second.position == 2
    knocks = [await host.next(m.WaitingJoined), await host.next(m.WaitingJoined)]
    assert [k.entry.name for k in knocks] == ["Анна", "Борис"]
    assert knocks[0].entry.since <= knocks[1].entry.since

    await host.ok(m.Admit(id=Peer.rid(), participant=first.you.id))
    welcome = await anna.next(m.Welcome)
    assert welcome.id is None and welcome.you.id == first.you.id
    assert {p.name for p in welcome.participants} == {"Мария Ивановна Петрова", "Анна"}
    assert (await host.next(m.WaitingLeft)).outcome == "admitted"
    assert (await host.next(m.ParticipantJoined)).participant.name == "Анна"
    assert urok.media.joined[(room, first.you.id)] == frozenset({"mic", "camera", "screen"})

    await host.ok(m.Deny(id=Peer.rid(), participant=second.you.id))
    assert (await boris.next(m.Denied)).reason == "denied"
    assert (await host.next(m.WaitingLeft)).outcome == "denied"
    assert (room, second.you.id) not in urok.media.joined


async def test_admit_all_and_switching_waiting_room_off(urok: Urok) -> None:
    room, host = await urok.lesson()
    peers = [(await urok.join(room, f"Ученик {i}"))[0] for i in range(3)]
    await host.ok(m.AdmitAll(id=Peer.rid()))
    for peer in peers:
        assert isinstance(await peer.next(m.Welcome), m.Welcome)
    late, reply = await urok.join(room, "Опоздавший")
    assert isinstance(reply, m.Waiting)
    await host.ok(m.SetRoom(id=Peer.rid(), waiting_room=False))
    assert isinstance(await late.next(m.Welcome), m.Welcome)
    _, direct = await urok.join(room, "Сразу")
    assert isinstance(direct, m.Welcome)


async def test_waiting_person_sees_state_and_can_leave(urok: Urok) -> None:
    room, host = await urok.lesson()
    peer, reply = await urok.join(room, "Вера")
    assert isinstance(reply, m.Waiting) and reply.room_title == "Урок математики"
    await host.next(m.WaitingJoined)
    await peer.ok(m.Leave(id=Peer.rid()))
    assert (await host.next(m.WaitingLeft)).outcome == "left"
    assert await urok.store.zrange(f"room:{room}:waiting") == []


async def test_arriving_before_the_host_still_waits(urok: Urok) -> None:
    room = await urok.create_room()
    early, reply = await urok.join(room, "Ранний")
    assert isinstance(reply, m.Waiting)
    host, welcome = await urok.join(room, "Учитель", "teacher")
    assert isinstance(welcome, m.Welcome)
    assert [w.name for w in welcome.waiting] == ["Ранний"]
    assert await early.drain() == []  # nothing let them in


async def test_a_new_connection_does_not_bypass_the_waiting_room(urok: Urok) -> None:
    room, host = await urok.lesson()
    token = urok.token("Глеб", "student", room)
    first, reply = await urok.join(room, "Глеб", token=token)
    assert isinstance(reply, m.Waiting)
    second, again = await urok.join(room, "Глеб", token=token)
    assert isinstance(again, m.Waiting) and again.you.id == reply.you.id
    assert isinstance(await first.next(m.Removed), m.Removed)  # the old connection is replaced
    # media credentials are issued only on admission
    code = await second.refused(m.MediaOffer(id=Peer.rid(), sdp="v=0"))
    assert code == "not_admitted"
    assert (room, reply.you.id) not in urok.media.joined
    for msg in (m.RaiseHand(id=Peer.rid()), m.ChatSend(id=Peer.rid(), text="hi")):
        assert await second.refused(msg) == "not_admitted"


async def test_a_guest_reconnecting_without_resume_key_waits_again(urok: Urok) -> None:
    room, host = await urok.lesson(guests_allowed=True)
    guest, reply = await urok.join(room, "Гость", "guest")
    assert isinstance(reply, m.Waiting)
    await host.ok(m.Admit(id=Peer.rid(), participant=reply.you.id))
    await guest.next(m.Welcome)
    other, again = await urok.join(room, "Гость", "guest")
    assert isinstance(again, m.Waiting) and again.you.id != reply.you.id


async def test_auto_admit_by_org_and_role(urok: Urok) -> None:
    room, host = await urok.lesson(auto_admit_roles=["parent"])
    _, parent = await urok.join(room, "Родитель", "parent")
    assert isinstance(parent, m.Welcome)
    _, student = await urok.join(room, "Ученик", "student")
    assert isinstance(student, m.Waiting)
    _, outsider = await urok.join(room, "Чужой родитель", "parent", org="school2")
    assert isinstance(outsider, m.Waiting)


async def test_students_cannot_admit(urok: Urok) -> None:
    room, host = await urok.lesson()
    inside = await urok.admitted(room, "Дима")
    _, waiting = await urok.join(room, "Ева")
    assert isinstance(waiting, m.Waiting)
    assert await inside.refused(m.Admit(id=Peer.rid(), participant=waiting.you.id)) == "not_allowed"
    assert await inside.refused(m.AdmitAll(id=Peer.rid())) == "not_allowed"
    assert waiting.you.id not in {p for p in await urok.store.hgetall(f"room:{room}:participants")}
