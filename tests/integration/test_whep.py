"""WHEP playback, end to end: a publisher on the stage (aiortc over WHIP, encoding real VP8 and
Opus) and a WHEP player (aiortc) that decodes what the SFU forwards; plus what WHEP refuses."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

from sfu import aiortc_hook
from sfu.server import SFU
from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore
from signaling.ws import HUB

SECRET = "whep-secret-0123456789abcdef0123456789"
ADMIN = {"Authorization": "Bearer k"}


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone: a voice loud enough to be among the loudest (silence is not forwarded)."""

    async def recv(self) -> Any:
        frame = await super().recv()
        n = frame.samples
        start = frame.pts or 0
        tone = (8000 * np.sin(2 * np.pi * 440 * (np.arange(n) + start) / 48000)).astype("<i2")
        frame.planes[0].update(np.repeat(tone, len(frame.layout.channels)).tobytes())
        return frame


async def _offer(pc: RTCPeerConnection) -> str:
    with aiortc_hook.loopback_candidates():
        await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


async def _broadcast(client: TestClient[Any, Any], room_id: str, **settings: Any) -> None:
    body = {
        "title": "Трансляция",
        "kind": "broadcast",
        "id": room_id,
        "settings": {"waiting_room": False, **settings},
    }
    assert (await client.post("/api/rooms", json=body, headers=ADMIN)).status == 201


async def _frames(track: Any, count: int, timeout: float) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            got.append(await asyncio.wait_for(track.recv(), deadline - time.monotonic()))
        except (TimeoutError, MediaStreamError):
            break
    return got


async def test_a_whep_player_decodes_the_stage_and_is_no_participant(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=("k",))
    app = create_app(settings, media=SFU(ice_addresses=("127.0.0.1",)), store=MemoryStore())
    publisher, player = aiortc_hook.loopback_peer(), aiortc_hook.loopback_peer()
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        try:
            await _broadcast(client, "stage2")
            publisher.addTransceiver(ToneTrack(), direction="sendonly")
            publisher.addTransceiver(VideoStreamTrack(), direction="sendonly")
            token = auth.mint(SECRET, user_id="t1", name="Учитель", role="teacher", room="stage2")
            resp = await client.post(
                "/whip/stage2",
                data=await _offer(publisher),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
            )
            assert resp.status == 201, await resp.text()
            await publisher.setRemoteDescription(RTCSessionDescription(await resp.text(), "answer"))

            tracks: dict[str, Any] = {}
            player.on("track", lambda track: tracks.__setitem__(track.kind, track))
            player.addTransceiver("audio", direction="recvonly")
            player.addTransceiver("video", direction="recvonly")
            resp = await client.post(
                "/whep/stage2",
                data=await _offer(player),
                headers={"Content-Type": "application/sdp"},
            )
            assert resp.status == 201, await resp.text()
            location = resp.headers["Location"]
            assert location.startswith("/whep/stage2/")
            answer = await resp.text()
            assert answer.count("a=sendonly") == 2 and "a=ice-lite" in answer
            await player.setRemoteDescription(RTCSessionDescription(answer, "answer"))

            video = await _frames_when(tracks, "video", 10, 20.0)
            assert len(video) >= 10 and video[-1].width == 640 and video[-1].height == 480
            audio = await _frames_when(tracks, "audio", 20, 10.0)
            assert len(audio) >= 20 and audio[0].sample_rate == 48000

            room = await client.app[HUB].room("stage2")
            assert room is not None
            assert [p.identity.user_id for p in room.participants.values()] == ["t1"]

            assert (await client.delete(location)).status == 200
            assert (await client.delete(location)).status == 404  # gone once
            sfu_room = app[HUB].media.rooms["stage2"]  # type: ignore[attr-defined]
            assert location.rsplit("/", 1)[1] not in sfu_room.participants
        finally:
            await player.close()
            await publisher.close()


async def _frames_when(tracks: dict[str, Any], kind: str, count: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05)):
        if kind in tracks:
            break
        await asyncio.sleep(0.05)
    assert kind in tracks, f"no {kind} track arrived"
    return await _frames(tracks[kind], count, max(0.1, deadline - time.monotonic()))


async def test_whep_refuses_what_it_must_and_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=("k",), whep_max_viewers=1)
    app = create_app(settings, media=SFU(ice_addresses=("127.0.0.1",)), store=MemoryStore())
    players = [aiortc_hook.loopback_peer() for _ in range(2)]
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        try:
            await _broadcast(client, "open1")
            await _broadcast(client, "members1", viewers_require_registration=True)
            sdp_headers = {"Content-Type": "application/sdp"}
            for pc in players:
                pc.addTransceiver("video", direction="recvonly")
            offers = [await _offer(pc) for pc in players]

            async def post(path: str, body: str, **headers: str) -> aiohttp.ClientResponse:
                return await client.post(path, data=body, headers={**sdp_headers, **headers})

            assert (await post("/whep/nosuch", offers[0])).status == 404
            resp = await client.post(
                "/whep/open1", data=offers[0], headers={"Content-Type": "text/plain"}
            )
            assert resp.status == 415
            resp = await post("/whep/open1", "v=0\r\nthis is not sdp\r\n")
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_sdp"
            assert (await post("/whep/open1", "x" * (300 * 1024))).status == 400
            resp = await post("/whep/members1", offers[0])
            assert resp.status == 401
            forged = auth.mint(
                "another-secret-0123456789abcdef012345",
                user_id="s",
                name="С",
                role="student",
                room="members1",
            )
            assert (
                await post("/whep/members1", offers[0], Authorization=f"Bearer {forged}")
            ).status == 401
            student = auth.mint(SECRET, user_id="s", name="Ученик", role="student", room="members1")
            assert (
                await post("/whep/members1", offers[0], Authorization=f"Bearer {student}")
            ).status == 201

            assert (await post("/whep/open1", offers[0])).status == 201
            full = await post("/whep/open1", offers[1])  # one sub-second viewer per broadcast here
            assert full.status == 503 and (await full.json())["error"]["code"] == "whep_full"
            assert (await client.delete("/whep/open1/vnot-a-session")).status == 404
            assert (await client.patch("/whep/open1/x")).status == 405
            options = await client.options("/whep/open1")
            assert options.status == 204 and options.headers["Accept-Post"] == "application/sdp"
            # refusals left nothing behind: one viewer in each broadcast's SFU room
            rooms = app[HUB].media.rooms  # type: ignore[attr-defined]
            assert (
                len(rooms["open1"].participants) == 1 and len(rooms["members1"].participants) == 1
            )
        finally:
            for pc in players:
                await pc.close()
