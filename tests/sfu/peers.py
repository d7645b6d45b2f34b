"""Test peers: real aiortc RTCPeerConnections that send pre-encoded RTP packets they build
themselves and record every RTP/RTCP packet they receive, raw (no decoder in the path)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiortc import RTCSessionDescription

from sfu import aiortc_hook, rtcp, sdp
from sfu.api import MediaEvent, PublishLayers, SdpOffer, Source, Speaking, TracksChanged
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
        self.pc = aiortc_hook.loopback_peer()
        self.received = Received()
        self.tracks: TracksChanged | None = None
        self.speaking: list[Speaking] = []
        self.layers: list[PublishLayers] = []
        self.offers_answered = 0
        self.offers_failed = 0
        self.drop_every = 0  # lose every n-th arriving packet once (its retransmission passes)
        self.dropped = 0
        self._arrivals = 0
        self._dropped_seqs: set[tuple[int, int]] = set()
        self._events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        self.processing = asyncio.Event()
        self.processing.set()
        self._task: asyncio.Task[None] | None = None

    async def join(
        self,
        kinds: list[str],
        direction: str = "sendonly",
        codecs: str | None = None,
        munge: Callable[[str], str] | None = None,
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
        offer = self.pc.localDescription.sdp
        answer = await self.sfu.offer(ROOM, self.pid, munge(offer) if munge else offer)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        aiortc_hook.tap_raw(self.pc, self._on_rtp, self.received.rtcp.append)
        self._task = asyncio.ensure_future(self._run())
        await wait_for(lambda: self.pc.connectionState == "connected")
        aiortc_hook.peer_datagram_filter(self.pc, self._keep)
        return answer

    async def renegotiate(self) -> None:
        """A new client offer (e.g. after changing a transceiver's direction)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await self.sfu.offer(ROOM, self.pid, self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        aiortc_hook.tap_raw(self.pc, self._on_rtp, self.received.rtcp.append)

    def _on_rtp(self, packet: bytes) -> None:
        self.received.rtp.append(packet)

    def _keep(self, datagram: bytes) -> bool:
        """Network loss before decryption: every n-th RTP datagram, first arrival only."""
        if 191 < datagram[1] < 224 or not self.drop_every:
            return True
        self._arrivals += 1
        seq, _, ssrc = struct.unpack_from("!HII", datagram, 2)
        if self._arrivals % self.drop_every == 0 and (ssrc, seq) not in self._dropped_seqs:
            self._dropped_seqs.add((ssrc, seq))
            self.dropped += 1
            return False
        return True

    def missing_seqs(self, ssrc: int, seqs: set[int] | None = None) -> list[int]:
        """Gaps in what arrived from ``ssrc`` (between the lowest and highest seen)."""
        if seqs is None:
            seqs = {struct.unpack_from("!H", p, 2)[0] for p in self.received.from_ssrc(ssrc)}
        if not seqs:
            return []
        first = min(seqs, key=lambda s: (s - next(iter(seqs)) + 0x8000) & 0xFFFF)
        span = max((s - first) & 0xFFFF for s in seqs)
        return [(first + i) & 0xFFFF for i in range(span) if (first + i) & 0xFFFF not in seqs]

    def rtx_ssrc_of_mid(self, mid: str) -> int:
        """The RTX SSRC the SFU announced (a=ssrc-group:FID) for one of its m-sections."""
        desc = sdp.parse(self.pc.remoteDescription.sdp)
        media = next(m for m in desc.media if m.mid == mid)
        return next(ssrcs[1] for kind, ssrcs in media.ssrc_groups() if kind == "FID")

    def unwrapped(self, ssrc: int, rtx_ssrc: int) -> dict[int, bytes]:
        """Sequence number → payload from the media stream and its RTX stream (RFC 4588)."""
        found = {struct.unpack_from("!H", p, 2)[0]: p[12:] for p in self.received.from_ssrc(ssrc)}
        for packet in self.received.from_ssrc(rtx_ssrc):
            osn = struct.unpack_from("!H", packet, 12)[0]
            found.setdefault(osn, packet[14:])
        return found

    def ssrc_of_mid(self, mid: str) -> int:
        """The SSRC the SFU announced for one of its m-sections."""
        desc = sdp.parse(self.pc.remoteDescription.sdp)
        return next(m.ssrcs()[0] for m in desc.media if m.mid == mid)

    async def _run(self) -> None:
        while True:
            event = await self._events.get()
            await self.processing.wait()  # a test may hold the SFU's messages back
            if isinstance(event, TracksChanged):
                self.tracks = event
            elif isinstance(event, Speaking):
                self.speaking.append(event)
            elif isinstance(event, PublishLayers):
                self.layers.append(event)
            elif isinstance(event, SdpOffer):
                try:
                    await self._answer(event.sdp)
                except Exception:  # e.g. a stale offer after a glare: the next one is whole
                    self.offers_failed += 1

    async def _answer(self, sdp_text: str) -> None:
        offered = {m.mid for m in sdp.parse(sdp_text).media}
        if any(t.mid is not None and t.mid not in offered for t in self.pc.getTransceivers()):
            raise ValueError("stale offer: it lacks a negotiated m-section")  # as a browser
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp_text, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.sfu.answer(ROOM, self.pid, self.pc.localDescription.sdp)
        aiortc_hook.tap_raw(self.pc, self._on_rtp, self.received.rtcp.append)
        self.offers_answered += 1

    def local_ssrcs(self) -> dict[str, int]:
        """kind of each sending m-section → its primary SSRC, from our own description."""
        desc = sdp.parse(self.pc.localDescription.sdp)
        return {m.kind: m.ssrcs()[0] for m in desc.media if m.ssrcs() and m.direction != "recvonly"}

    def extension_id(self, uri: str) -> int:
        """The id our own description gives a header extension."""
        desc = sdp.parse(self.pc.localDescription.sdp)
        return next(m.extmaps()[uri] for m in desc.media if uri in m.extmaps())

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
async def running_sfu(egress: bool = False) -> AsyncIterator[SFU]:
    """An SFU on loopback; with ``egress``, every subscriber's copies go through the egress
    process."""
    sfu = SFU(ice_addresses=("127.0.0.1",), egress=egress, egress_share=1.0)
    sfu.start()
    try:
        yield sfu
    finally:
        await sfu.close()
