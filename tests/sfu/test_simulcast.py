"""Simulcast: a publisher sends three layers (rid l, m, h); each subscriber gets the layer its
tile needs within its bandwidth estimate, switched only at a key frame of the target layer,
with sequence numbers, timestamps and VP8 picture ids continuous; unwatched layers are paused
at the publisher (dynacast)."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import struct

import pytest

from sfu import layers, negotiation, rtcp, rtp, sdp
from sfu.api import PublishLayers, TileView
from tests.sfu.peers import ROOM, Peer, running_sfu, wait_for

CAM = frozenset({"camera"})
RID_ID = 10
RIDS = ("l", "m", "h")


def simulcast_offer(text: str) -> str:
    """Chrome's shape: rid header extension, a=rid lines, a=simulcast, no a=ssrc."""
    out = []
    for line in text.split("\r\n"):
        if line.startswith(("a=ssrc:", "a=ssrc-group:")):
            continue
        out.append(line)
        if line.startswith("a=mid:"):
            out.append(f"a=extmap:{RID_ID} {negotiation.RID_EXT}")
            out += [f"a=rid:{rid} send" for rid in RIDS]
            out.append("a=simulcast:send " + ";".join(RIDS))
    return "\r\n".join(out)


class Publisher:
    """Three VP8 layers, one packet per frame: each layer its own SSRC, sequence numbers,
    picture ids and TL0PICIDX, as a browser's simulcast encoder sends them."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.mid_id = peer.extension_id(negotiation.MID_EXT)
        self.mid = next(t.mid for t in peer.pc.getTransceivers()).encode()
        self.ssrcs = [int.from_bytes(os.urandom(4), "big") | 1 for _ in RIDS]
        self.seqs = [1000, 20000, 65520]  # layer h wraps around during the test
        self.pids = [100, 2000, 32760]  # and its picture id too (15 bits)
        self.frame = 0

    def packet(self, layer: int, key: bool) -> bytes:
        ext = bytes([(self.mid_id << 4) | (len(self.mid) - 1)]) + self.mid
        rid = RIDS[layer].encode()
        ext += bytes([(RID_ID << 4) | (len(rid) - 1)]) + rid
        ext += bytes(-len(ext) % 4)
        header = struct.pack(
            "!BBHII",
            0x90,
            0x80 | 96,
            self.seqs[layer] & 0xFFFF,
            self.frame * 3000,
            self.ssrcs[layer],
        )
        header += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
        pid = self.pids[layer] & 0x7FFF
        descriptor = bytes([0x90, 0xC0, 0x80 | (pid >> 8), pid & 0xFF, self.frame & 0xFF])
        body = bytes([0x10 if key else 0x11, layer]) + self.frame.to_bytes(4, "big")
        self.seqs[layer] += 1
        self.pids[layer] += 1
        return header + descriptor + body + os.urandom(60 + 450 * layer)  # l < m < h

    async def frames(self, count: int, key: tuple[int, ...] = ()) -> None:
        """``count`` frames on every layer (the first one a key frame on the ``key`` layers)."""
        for i in range(count):
            for layer in range(len(RIDS)):
                await self.peer.send(self.packet(layer, key=i == 0 and layer in key))
            self.frame += 1
            await asyncio.sleep(0.005)


def vp8_view(packet: bytes) -> tuple[int, int, int, int, bool]:
    """(seq, timestamp, picture id, layer byte, key frame) of a received packet."""
    seq, ts = struct.unpack_from("!HI", packet, 2)
    fields = rtp.vp8_fields(packet)
    assert fields is not None and fields[0] and fields[2]
    start = rtp.header_length(packet, len(packet)) + 5
    return seq, ts, fields[1], packet[start + 1], not packet[start] & 1


def slot_ssrc(bob: Peer) -> int:
    assert bob.tracks is not None
    mid = next(t.mid for t in bob.tracks.tracks if t.source == "camera")
    return bob.ssrc_of_mid(mid)


def assert_continuous(received: list[bytes]) -> None:
    views = [vp8_view(p) for p in received]
    for (seq0, ts0, pid0, _, _), (seq1, ts1, pid1, _, _) in itertools.pairwise(views):
        assert seq1 == (seq0 + 1) & 0xFFFF, "a gap or a jump in sequence numbers"
        assert 0 < (ts1 - ts0) & 0xFFFFFFFF < 90000, "timestamps went back or jumped"
        assert pid1 == (pid0 + 1) & 0x7FFF, "a gap or a jump in picture ids"


@pytest.mark.parametrize("egress", [False, True], ids=["here", "egress-process"])
async def test_the_layer_follows_the_tile_and_switches_on_a_key_frame_without_a_gap(
    egress: bool,
) -> None:
    async with running_sfu(egress) as sfu:
        alice, bob = Peer(sfu, "alice", CAM), Peer(sfu, "bob")
        try:
            answer = await alice.join(["video"], munge=simulcast_offer)
            media = sdp.parse(answer).media[0]
            assert [v.split()[0] for v in media.values("rid")] == list(RIDS)
            assert media.value("simulcast") == "recv l;m;h"
            pub = Publisher(alice)
            await bob.join(["audio"], direction="recvonly")
            sfu.set_view(ROOM, "bob", (TileView("alice", "camera", 160, 90),))
            await wait_for(lambda: bob.tracks is not None and bob.offers_answered >= 1)
            ssrc = slot_ssrc(bob)
            await pub.frames(10, key=(0, 1, 2))
            await wait_for(lambda: len(bob.received.from_ssrc(ssrc)) >= 8)
            assert {vp8_view(p)[3] for p in bob.received.from_ssrc(ssrc)} == {0}  # small: low

            sfu.set_view(ROOM, "bob", (TileView("alice", "camera", 1280, 720),))
            await pub.frames(5)  # no key frame on h yet: bob stays on l
            await wait_for(lambda: len(bob.received.from_ssrc(ssrc)) >= 13)
            assert {vp8_view(p)[3] for p in bob.received.from_ssrc(ssrc)} == {0}
            key_requests = [f for f in alice.received.feedback() if isinstance(f, rtcp.Pli)]
            assert pub.ssrcs[2] in {f.media_ssrc for f in key_requests}  # h was asked for one
            await pub.frames(10, key=(2,))
            await wait_for(lambda: len(bob.received.from_ssrc(ssrc)) >= 23)
            got = sorted(bob.received.from_ssrc(ssrc), key=lambda p: vp8_view(p)[1])
            layers_seen = [vp8_view(p)[3] for p in got]
            first_h = layers_seen.index(2)
            assert set(layers_seen[first_h:]) == {2} and set(layers_seen[:first_h]) == {0}
            assert vp8_view(got[first_h])[4], "the switch lands on a key frame"
            assert_continuous(got)

            sfu.set_view(ROOM, "bob", (TileView("alice", "camera", 640, 360),))
            await pub.frames(3)
            await pub.frames(5, key=(1,))
            await wait_for(lambda: len(bob.received.from_ssrc(ssrc)) >= 31)
            got = sorted(bob.received.from_ssrc(ssrc), key=lambda p: vp8_view(p)[1])
            assert [vp8_view(p)[3] for p in got][-5:] == [1] * 5
            assert_continuous(got)
        finally:
            await alice.close()
            await bob.close()


async def test_a_bandwidth_cap_lowers_the_layer_and_unwatched_layers_pause() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", CAM), Peer(sfu, "bob")
        try:
            await alice.join(["video"], munge=simulcast_offer)
            pub = Publisher(alice)
            await bob.join(["audio"], direction="recvonly")
            sfu.set_view(ROOM, "bob", (TileView("alice", "camera", 1280, 720),))
            await wait_for(lambda: bob.tracks is not None and bob.offers_answered >= 1)
            ssrc = slot_ssrc(bob)
            await pub.frames(4, key=(0, 1, 2))
            await wait_for(lambda: any(vp8_view(p)[3] == 2 for p in bob.received.from_ssrc(ssrc)))

            # bob's estimate falls to 50 kbit/s, less than what layer m measures (~60 kbit/s)
            await bob.send(rtcp.remb(0x5EED, 2_000_000, [ssrc]))
            await bob.send(rtcp.remb(0x5EED, 50_000, [ssrc]))
            await wait_for(lambda: sfu.rooms[ROOM].participants["bob"].transport.estimate_bps)
            down = next(iter(sfu.rooms[ROOM].participants["bob"].downs.values()))
            for _ in range(40):  # the once-a-second check lowers the target; a key frame on l
                if down.stream.rid == "l":
                    break
                await pub.frames(2, key=(0,))
                await asyncio.sleep(0.1)
            assert down.stream.rid == "l"
            before = len(bob.received.from_ssrc(ssrc))
            await pub.frames(4)
            await wait_for(lambda: len(bob.received.from_ssrc(ssrc)) >= before + 4)
            got = sorted(bob.received.from_ssrc(ssrc), key=lambda p: vp8_view(p)[1])
            assert [vp8_view(p)[3] for p in got][-4:] == [0] * 4
            assert_continuous(got)

            # nobody receives m and h now: after a few seconds alice is told to stop them
            await wait_for(lambda: PublishLayers("camera", ("l",)) in alice.layers, timeout=8)
            track = sfu.rooms[ROOM].participants["alice"].tracks
            group = next(iter(track.values()))
            assert [t.paused for t in group.layers] == [False, True, True]
        finally:
            await alice.close()
            await bob.close()


def test_layer_for_tile_sizes_and_counts() -> None:
    assert layers.for_tile(TileView("a", "camera", 160, 90), 3, True, 30) == 0
    assert layers.for_tile(TileView("a", "camera", 640, 360), 3, True, 30) == 1
    assert layers.for_tile(TileView("a", "camera", 1280, 720), 3, True, 1) == 2
    assert layers.for_tile(TileView("a", "camera", 1280, 720), 2, True, 1) == 1
    assert layers.for_tile(TileView("a", "camera", 0, 0), 3, True, 1) == 0  # hidden
    assert layers.for_tile(None, 3, True, 1) == 0  # not on the page: thumbnail
    assert layers.for_tile(None, 3, False, 1) == 2  # no reports: by count
    assert layers.for_tile(None, 3, False, 5) == 1
    assert layers.for_tile(None, 3, False, 25) == 0


def test_fit_lowers_the_costliest_first_and_keeps_layer_zero() -> None:
    rates = [[100_000.0, 400_000.0, 1_200_000.0], [100_000.0, 400_000.0, 1_200_000.0]]
    assert layers.fit([2, 2], rates, 0) == [2, 2]  # no estimate: no cap
    assert layers.fit([2, 2], rates, 3_000_000) == [2, 2]
    assert sorted(layers.fit([2, 2], rates, 1_800_000)) == [1, 2]  # one steps down
    assert layers.fit([2, 2], rates, 1_000_000) == [1, 1]
    assert layers.fit([2, 1], rates, 10_000) == [0, 0]


def test_simulcast_rids_reads_chrome_and_refuses_nonsense() -> None:
    def media(lines: str) -> sdp.Media:
        text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        return sdp.parse(text + lines.replace("\n", "\r\n")).media[0]

    ext = f"a=extmap:4 {negotiation.RID_EXT}\n"
    chrome = ext + "a=rid:q send\na=rid:h send\na=rid:f send\na=simulcast:send q;h;f\n"
    assert negotiation.simulcast_rids(media(chrome)) == ["q", "h", "f"]
    paused = ext + "a=rid:a send\na=rid:b send\na=simulcast:send ~a;b,c\n"
    assert negotiation.simulcast_rids(media(paused)) == ["a", "b"]
    assert negotiation.simulcast_rids(media(chrome.replace(ext, ""))) == []  # no rid ext
    assert negotiation.simulcast_rids(media(ext + "a=rid:q send\na=simulcast:send q\n")) == []
    bad = ext + "a=rid:<x> send\na=rid:y send\na=simulcast:send <x>;y\n"
    assert negotiation.simulcast_rids(media(bad)) == []
    assert negotiation.simulcast_rids(media(ext + "a=simulcast:recv a;b\n")) == []
    assert re.fullmatch(r"[a-z]", RIDS[0])
