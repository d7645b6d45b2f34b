"""Test peers: real aiortc RTCPeerConnections that send pre-encoded RTP packets they build
themselves and record every RTP/RTCP packet they receive, raw (no decoder in the path)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection, RTCSessionDescription

from sfu import aiortc_hook, rtcp, sdp
from sfu.api import MediaEvent, SdpOffer, Source, TracksChanged
from sfu.server import SFU

ROOM = "room"


@dataclass
class Received:
    rtp: list[bytes] = field(default_factory=list)
    rtcp: list[bytes] = field(default_factory=list)

    def from_ssrc(self, ssrc: int) -> list[bytes]:
        return [p for p in self.rtp if struct.unpack_from("!I", p, 8)[0] == ssrc]

    def feedback(self) -> list[rtcp.Feedback]:
        found: list[rtcp.Feedback] = []
        for packet in self.rtcp:
            found += rtcp.parse(packet) or []
        return found


def rtp_packet(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False
) -> bytes:
    return (
        struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts, ssrc) + payload
    )


class Peer:
    """One participant: joins the SFU, negotiates, answers the SFU's offers."""

    def __init__(self, sfu: SFU, pid: str, publish: frozenset[Source] = frozenset()) -> None:
        self.sfu = sfu
        self.pid = pid
        self.publish = publish
        self.pc = RTCPeerConnection()
        self.received = Received()
        self.tracks: TracksChanged | None = None
        self.offers_answered = 0
        self.drop_rtp: set[int] = set()  # sequence numbers to lose once on arrival (by SSRC seq)
        self._events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def join(
        self, kinds: list[str], direction: str = "sendonly", codecs: str | None = None
    ) -> str:
        """Join and negotiate; returns the SFU's answer."""
        await self.sfu.join(ROOM, self.pid, self.publish, self._events.put_nowait)
        for kind in kinds:
            transceiver = self.pc.addTransceiver(kind, direction=direction)
            if codecs and kind == "video":
                caps = [c for c in _video_caps() if c.mimeType.lower() == codecs]
                transceiver.setCodecPreferences(caps)
        with aiortc_hook.loopback_candidates():
            await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await self.sfu.offer(ROOM, self.pid, self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        aiortc_hook.tap_raw(self.pc, self._on_rtp, self.received.rtcp.append)
        self._task = asyncio.ensure_future(self._run())
        await wait_for(lambda: self.pc.connectionState == "connected")
        return answer

    def _on_rtp(self, packet: bytes) -> None:
        seq = struct.unpack_from("!H", packet, 2)[0]
        if seq in self.drop_rtp:
            self.drop_rtp.discard(seq)
            return
        self.received.rtp.append(packet)

    async def _run(self) -> None:
        while True:
            event = await self._events.get()
            if isinstance(event, TracksChanged):
                self.tracks = event
            elif isinstance(event, SdpOffer):
                await self.pc.setRemoteDescription(RTCSessionDescription(event.sdp, "offer"))
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self.sfu.answer(ROOM, self.pid, self.pc.localDescription.sdp)
                aiortc_hook.tap_raw(self.pc, self._on_rtp, self.received.rtcp.append)
                self.offers_answered += 1

    def local_ssrcs(self) -> dict[str, int]:
        """kind of each sending m-section → its primary SSRC, from our own description."""
        desc = sdp.parse(self.pc.localDescription.sdp)
        return {m.kind: m.ssrcs()[0] for m in desc.media if m.ssrcs() and m.direction != "recvonly"}

    def payload_type(self, kind: str) -> int:
        desc = sdp.parse(self.pc.remoteDescription.sdp)
        media = next(m for m in desc.media if m.kind == kind and m.direction == "recvonly")
        return int(media.formats[0])

    async def send(self, packet: bytes) -> None:
        await aiortc_hook.send_raw(self.pc, packet)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pc.close()


def _video_caps() -> list:  # type: ignore[type-arg]
    from aiortc import RTCRtpSender

    return list(RTCRtpSender.getCapabilities("video").codecs)


async def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def payload(i: int, size: int = 200) -> bytes:
    return i.to_bytes(4, "big") + os.urandom(size - 4)


@contextlib.asynccontextmanager
async def running_sfu() -> AsyncIterator[SFU]:
    sfu = SFU(ice_addresses=("127.0.0.1",))
    sfu.start()
    try:
        yield sfu
    finally:
        await sfu.close()
