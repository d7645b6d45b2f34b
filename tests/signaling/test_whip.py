"""WHIP ingest at the signaling boundary: who may publish, what the room sees, how it ends."""

from __future__ import annotations

from signaling import messages as m
from tests.signaling.conftest import Urok

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def test_publish_and_delete(urok: Urok) -> None:
    room, host = await urok.lesson()
    token = urok.token("OBS: актовый зал", "teacher", room, user_id="obs-1")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    resp = await urok.client.post(f"/whip/{room}", data=SDP, headers=headers)
    assert resp.status == 201 and resp.content_type == "application/sdp"
    location = resp.headers["Location"]
    pid = location.rsplit("/", 1)[1]
    assert (await resp.text()) == f"v=0 answer-for-{pid}"
    joined = await host.next(m.ParticipantJoined)
    assert joined.participant.id == pid and joined.participant.connected
    changed = await host.next(m.ParticipantChanged)
    assert changed.participant.media.mic and changed.participant.media.camera
    assert urok.media.allowed[(room, pid, "camera")] is True
    other = {"Authorization": f"Bearer {urok.token('X', 'teacher', room, user_id='x')}"}
    assert (await urok.client.delete(location, headers=other)).status == 404
    assert (await urok.client.delete(location, headers=headers)).status == 200
    assert (await host.next(m.ParticipantLeft)).participant == pid


async def test_whip_refusals(urok: Urok) -> None:
    room, host = await urok.lesson()
    sdp = {"Content-Type": "application/sdp"}
    assert (await urok.client.post(f"/whip/{room}", data=SDP, headers=sdp)).status == 401
    student = {"Authorization": f"Bearer {urok.token('S', 'student', room)}", **sdp}
    refused = await urok.client.post(f"/whip/{room}", data=SDP, headers=student)
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "waiting_room"
    teacher = {"Authorization": f"Bearer {urok.token('T', 'teacher', room)}"}
    wrong_type = await urok.client.post(
        f"/whip/{room}", data=SDP, headers={**teacher, "Content-Type": "text/plain"}
    )
    assert wrong_type.status == 415
    empty = await urok.client.post(f"/whip/{room}", data="", headers={**teacher, **sdp})
    assert empty.status == 400
    huge = await urok.client.post(f"/whip/{room}", data="a" * 70000, headers={**teacher, **sdp})
    assert huge.status == 400
    assert (
        await urok.client.post("/whip/nope", data=SDP, headers={**teacher, **sdp})
    ).status == 401
    other_room = {"Authorization": f"Bearer {urok.token('T', 'teacher', 'elsewhere')}", **sdp}
    assert (await urok.client.post(f"/whip/{room}", data=SDP, headers=other_room)).status == 401
    live = await urok.hub_room(room)
    assert len(live.participants) == 1
    await host.alive()
