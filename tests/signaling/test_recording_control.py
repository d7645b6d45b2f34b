"""Hosts start and stop recording; everyone sees it, newcomers are told, problems reach hosts."""

from __future__ import annotations

from signaling import messages as m
from tests.signaling.conftest import Peer, Urok


async def test_start_stop_indicator_and_newcomers(urok: Urok) -> None:
    room, host = await urok.lesson(waiting_room=False)
    kid = await urok.admitted(room, "Ученица")
    await host.ok(m.StartRecording(id=Peer.rid()))
    assert (await kid.next(m.RoomChanged)).room.recording is True
    assert urok.recorder.active[room].title == "Урок математики"
    _, late = await urok.join(room, "Опоздал")
    assert isinstance(late, m.Welcome) and late.room.recording is True
    assert await kid.refused(m.StopRecording(id=Peer.rid())) == "not_allowed"
    await host.ok(m.StopRecording(id=Peer.rid()))
    assert (await kid.next(m.RoomChanged)).room.recording is False
    assert urok.recorder.stopped == [room]


async def test_record_on_start_and_end_stops_it(urok: Urok) -> None:
    room, host = await urok.lesson(record_on_start=True)
    assert room in urok.recorder.active
    await host.ok(m.EndRoom(id=Peer.rid()))
    await host.next(m.RoomEnded)
    assert urok.recorder.stopped == [room]


async def test_problems_reach_the_hosts(urok: Urok) -> None:
    room, host = await urok.lesson(waiting_room=False)
    kid = await urok.admitted(room, "Ученик")
    await host.ok(m.StartRecording(id=Peer.rid()))
    assert (await kid.next(m.RoomChanged)).room.recording is True
    urok.recorder.problems[room]("disk_full", "no space left on device")
    problem = await host.next(m.RecordingProblem)
    assert problem.code == "disk_full"
    assert (await kid.next(m.RoomChanged)).room.recording is False
    assert not any(isinstance(x, m.RecordingProblem) for x in await kid.drain())
    urok.recorder.fail_with = "storage_unwritable"
    assert await host.refused(m.StartRecording(id=Peer.rid())) == "storage_unwritable"
    await kid.alive()


async def test_host_chooses_the_composite_layout(urok: Urok) -> None:
    room, host = await urok.lesson(waiting_room=False)
    kid = await urok.admitted(room, "Ученик")
    assert await kid.refused(m.SetLayout(id=Peer.rid(), layout="grid")) == "not_allowed"
    await host.ok(m.SetLayout(id=Peer.rid(), layout="grid"))
    assert (await kid.next(m.RoomChanged)).room.layout == "grid"
    assert urok.recorder.layouts[room] == "grid"
    await host.ok(m.StartRecording(id=Peer.rid()))
    assert urok.recorder.layouts[room] == "grid"
    _, late = await urok.join(room, "Поздний")
    assert isinstance(late, m.Welcome) and late.room.layout == "grid"
