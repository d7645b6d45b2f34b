"""Raised hands and host controls, enforced by the server."""

from __future__ import annotations

from signaling import messages as m
from tests.signaling.conftest import Peer, Urok


async def test_hand_queue_is_first_come_first(urok: Urok) -> None:
    room, host = await urok.lesson()
    a, b, c = [await urok.admitted(room, n) for n in ("Аня", "Боря", "Вика")]
    for place, peer in enumerate((b, a, c), start=1):
        await peer.ok(m.RaiseHand(id=Peer.rid()))
        assert (await peer.next(m.HandQueue)).position == place
    raised = [await host.next(m.HandRaised) for _ in range(3)]
    assert [r.participant for r in raised] == [b.me, a.me, c.me]
    assert raised[0].raised_at <= raised[1].raised_at <= raised[2].raised_at
    # raising again keeps the place
    await a.ok(m.RaiseHand(id=Peer.rid()))
    assert (await a.next(m.HandQueue)).position == 2
    # the host lowers the first: the others move up
    await host.ok(m.LowerHand(id=Peer.rid(), participant=b.me))
    assert (await b.next(m.HandQueue)).position is None
    lowered = await host.next(m.HandLowered)
    assert lowered.participant == b.me and lowered.by == host.me
    assert (await a.next(m.HandQueue)).position == 1
    assert (await c.next(m.HandQueue)).position == 2
    # a newcomer sees the queue in order
    _, late = await urok.join(room, "Гена", "teacher", user_id="t2")
    assert isinstance(late, m.Welcome)
    assert [h.participant for h in late.hands] == [a.me, c.me]
    # a student cannot lower someone else's hand; lower own works
    assert await c.refused(m.LowerHand(id=Peer.rid(), participant=a.me)) == "not_allowed"
    await c.ok(m.LowerHand(id=Peer.rid()))
    await host.ok(m.LowerAllHands(id=Peer.rid()))
    assert await urok.store.zrange(f"room:{room}:hands") == []


async def test_host_mute_stops_forwarding_and_av_moderation_holds(urok: Urok) -> None:
    room, host = await urok.lesson()
    kid = await urok.admitted(room, "Коля")
    assert kid.me
    await kid.ok(m.SetMedia(id=Peer.rid(), source="mic", enabled=True))
    assert urok.media.allowed[(room, kid.me, "mic")] is True
    await host.ok(m.Mute(id=Peer.rid(), participant=kid.me, source="mic"))
    assert urok.media.allowed[(room, kid.me, "mic")] is False
    changed = [c for c in await host.drain() if isinstance(c, m.ParticipantChanged)]
    assert changed[-1].participant.media.mic is False
    assert changed[-1].participant.media.blocked == ("mic",)
    # without A/V moderation the participant may unmute
    await kid.ok(m.SetMedia(id=Peer.rid(), source="mic", enabled=True))
    assert urok.media.allowed[(room, kid.me, "mic")] is True
    # with it, not — whatever the client does
    await host.ok(m.SetRoom(id=Peer.rid(), participants_may_unmute=False))
    await host.ok(m.Mute(id=Peer.rid(), participant=kid.me, source="mic"))
    code = await kid.refused(m.SetMedia(id=Peer.rid(), source="mic", enabled=True))
    assert code == "unmute_not_allowed"
    assert urok.media.allowed[(room, kid.me, "mic")] is False
    # ask to unmute: the participant decides
    await host.ok(m.RequestUnmute(id=Peer.rid(), participant=kid.me, source="mic"))
    asked = await kid.next(m.UnmuteRequested)
    assert asked.source == "mic" and asked.by == host.me
    await kid.ok(m.SetMedia(id=Peer.rid(), source="mic", enabled=True))
    assert urok.media.allowed[(room, kid.me, "mic")] is True


async def test_mute_all_spares_moderators(urok: Urok) -> None:
    room, host = await urok.lesson()
    kids = [await urok.admitted(room, n) for n in ("Оля", "Петя")]
    for kid in kids:
        await kid.ok(m.SetMedia(id=Peer.rid(), source="mic", enabled=True))
    await host.ok(m.SetMedia(id=Peer.rid(), source="mic", enabled=True))
    await host.ok(m.MuteAll(id=Peer.rid(), source="mic"))
    for kid in kids:
        assert kid.me and urok.media.allowed[(room, kid.me, "mic")] is False
    assert host.me and urok.media.allowed[(room, host.me, "mic")] is True


async def test_publish_rights_from_the_token_hold(urok: Urok) -> None:
    from signaling.auth import Grants

    room, host = await urok.lesson()
    quiet = await urok.admitted(room, "Без камеры", grants=Grants(publish=frozenset({"mic"})))
    code = await quiet.refused(m.SetMedia(id=Peer.rid(), source="camera", enabled=True))
    assert code == "not_allowed"
    await quiet.ok(m.SetMedia(id=Peer.rid(), source="mic", enabled=True))


async def test_remove_and_ban(urok: Urok) -> None:
    room, host = await urok.lesson()
    bad = await urok.admitted(room, "Хулиган")
    other = await urok.admitted(room, "Соседка")
    await host.ok(m.Remove(id=Peer.rid(), participant=bad.me, reason="правила"))
    removed = await bad.next(m.Removed)
    assert removed.reason == "правила" and removed.banned is False
    left = await other.next(m.ParticipantLeft)
    assert left.participant == bad.me and left.reason == "removed"
    # removed (not banned) may knock again, and waits
    again, reply = await urok.join(room, "Хулиган")
    assert isinstance(reply, m.Waiting)
    await host.ok(m.Ban(id=Peer.rid(), participant=reply.you.id))
    assert (await again.next(m.Denied)).reason == "banned"
    _, refused = await urok.join(room, "Хулиган")
    assert isinstance(refused, m.Error) and refused.code == "banned"
    await other.alive()


async def test_lock_keeps_newcomers_out_but_not_hosts(urok: Urok) -> None:
    room, host = await urok.lesson()
    await host.ok(m.SetRoom(id=Peer.rid(), locked=True))
    _, reply = await urok.join(room, "Поздний")
    assert isinstance(reply, m.Error) and reply.code == "room_locked"
    _, teacher = await urok.join(room, "Завуч", "teacher", user_id="t-zavuch")
    assert isinstance(teacher, m.Welcome) and teacher.room.locked


async def test_cohosts_promote_demote_transfer(urok: Urok) -> None:
    room, host = await urok.lesson()
    helper = await urok.admitted(room, "Помощник")
    kid = await urok.admitted(room, "Ребёнок")
    _, waiting = await urok.join(room, "Ждущий")
    assert isinstance(waiting, m.Waiting)
    assert await kid.refused(m.Promote(id=Peer.rid(), participant=kid.me)) == "not_allowed"
    await host.ok(m.Promote(id=Peer.rid(), participant=helper.me))
    assert (await helper.next(m.WaitingJoined)).entry.id == waiting.you.id
    # a co-host moderates, but not the host, and cannot promote
    await helper.ok(m.Mute(id=Peer.rid(), participant=kid.me, source="camera"))
    assert await helper.refused(m.Mute(id=Peer.rid(), participant=host.me, source="mic")) == (
        "not_allowed"
    )
    assert await helper.refused(m.Promote(id=Peer.rid(), participant=kid.me)) == "not_allowed"
    await helper.ok(m.Admit(id=Peer.rid(), participant=waiting.you.id))
    await host.ok(m.Demote(id=Peer.rid(), participant=helper.me))
    assert await helper.refused(m.Mute(id=Peer.rid(), participant=kid.me, source="mic")) == (
        "not_allowed"
    )
    await host.ok(m.TransferHost(id=Peer.rid(), participant=kid.me))
    assert await host.refused(m.EndRoom(id=Peer.rid())) == "not_allowed"
    ranks = {
        c.participant.id: c.participant.rank
        for c in await helper.drain()
        if isinstance(c, m.ParticipantChanged)
    }
    assert ranks[kid.me or ""] == "host" and ranks[host.me or ""] == "cohost"
    assert urok.media.hosts[room] == kid.me  # the SFU forwards the new host's mic always
    stored = await urok.client.get(f"/api/rooms/{room}", headers=urok.api)
    assert stored.status == 200


async def test_end_room_for_everyone(urok: Urok) -> None:
    room, host = await urok.lesson()
    kid = await urok.admitted(room, "Саша")
    _, waiting = await urok.join(room, "Ждёт")
    await host.ok(m.EndRoom(id=Peer.rid()))
    assert (await kid.next(m.RoomEnded)).reason == "ended_by_host"
    _, late = await urok.join(room, "Поздно")
    assert isinstance(late, m.Error) and late.code == "room_ended"
    info = await (await urok.client.get(f"/api/rooms/{room}/info")).json()
    assert info["ended"] is True
    assert room in urok.media.closed_rooms
