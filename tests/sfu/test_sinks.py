"""In-process sinks (the compositor, the recorder) get every track's decrypted RTP."""

from __future__ import annotations

import asyncio

from sfu import rtcp
from sfu.api import MediaSink, SinkTrack
from tests.sfu.peers import ROOM, Peer, payload, rtp_packet, running_sfu, wait_for


class Recorder:
    def __init__(self) -> None:
        self.added: list[SinkTrack] = []
        self.removed: list[SinkTrack] = []
        self.packets: list[tuple[SinkTrack, bytes]] = []

    def track_added(self, track: SinkTrack) -> None:
        self.added.append(track)

    def track_removed(self, track: SinkTrack) -> None:
        self.removed.append(track)

    def packet(self, track: SinkTrack, packet: bytes) -> None:
        self.packets.append((track, packet))


class Broken(Recorder):
    def packet(self, track: SinkTrack, packet: bytes) -> None:
        raise RuntimeError("sink bug")


async def test_a_sink_gets_tracks_packets_mute_and_keyframe_requests() -> None:
    async with running_sfu() as sfu:
        sink, broken = Recorder(), Broken()
        sinks: list[MediaSink] = [broken, sink]  # a failing sink first: the next still gets all
        for s in sinks:
            sfu.attach_sink(ROOM, s)
        alice = Peer(sfu, "alice", frozenset({"mic", "camera"}))
        try:
            await alice.join(["audio", "video"])
            kinds = {(t.source, t.kind, t.codec, t.clock_rate) for t in sink.added}
            assert kinds == {("mic", "audio", "opus", 48000), ("camera", "video", "vp8", 90000)}
            ssrc = alice.local_ssrcs()["video"]
            sent = [rtp_packet(97, 10 + i, i * 3000, ssrc, payload(i)) for i in range(5)]
            for packet in sent:
                await alice.send(packet)
            await wait_for(lambda: len(sink.packets) == 5)
            assert [p for _, p in sink.packets] == sent  # as the publisher sent them
            sfu.set_source_allowed(ROOM, "alice", "camera", False)
            await alice.send(rtp_packet(97, 15, 15000, ssrc, payload(5)))
            await asyncio.sleep(0.2)
            assert len(sink.packets) == 5
            await asyncio.sleep(1.0)  # the sink's own first request ages out
            alice.received.rtcp.clear()
            assert sfu.request_keyframe(ROOM, "alice", "camera")
            assert not sfu.request_keyframe(ROOM, "alice", "camera")  # throttled
            await wait_for(lambda: any(isinstance(f, rtcp.Pli) for f in alice.received.feedback()))
            sfu.detach_sink(ROOM, broken)
            await sfu.leave(ROOM, "alice")
            assert {t.source for t in sink.removed} == {"mic", "camera"}
            assert ROOM in sfu.rooms  # kept for the sink
        finally:
            await alice.close()
