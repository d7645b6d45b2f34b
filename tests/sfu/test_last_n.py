"""Last-N video in fixed receive slots: priority order, and no renegotiation for others' joins."""

from __future__ import annotations

import asyncio
import itertools
import struct

from sfu import rtcp
from sfu.api import TileView
from sfu.server import SFU
from tests.sfu.peers import ROOM, Peer, payload, rtp_packet, wait_for

CAM = frozenset({"camera"})


def shown(peer: Peer) -> set[str]:
    return {t.participant_id for t in peer.tracks.tracks} if peer.tracks else set()


async def test_last_n_picks_in_priority_order_and_joins_do_not_renegotiate() -> None:
    sfu = SFU(ice_addresses=("127.0.0.1",), last_n=2)
    sfu.start()
    a, b, c, d = (Peer(sfu, name, CAM) for name in ("a", "b", "c", "d"))
    sub = Peer(sfu, "sub")
    try:
        for peer in (a, b, c):
            await peer.join(["video"])
        await sub.join(["audio"], direction="recvonly")
        await wait_for(lambda: shown(sub) == {"a", "b"} and sub.offers_answered >= 1)
        offers = sub.offers_answered

        sfu.set_view(ROOM, "sub", (TileView("c", "camera", 320, 180),))  # c is on its page
        await wait_for(lambda: shown(sub) == {"c", "a"})
        sfu.set_host(ROOM, "b", True)  # the host comes first
        await wait_for(lambda: shown(sub) == {"b", "c"})
        await d.join(["video"])  # another camera joins: nothing for sub to renegotiate
        await wait_for(lambda: any(t.owner == "d" for t in sfu.rooms[ROOM].tracks))
        assert shown(sub) == {"b", "c"}
        assert sub.offers_answered == offers

        mid = next(t.mid for t in sub.tracks.tracks if t.participant_id == "c")  # type: ignore[union-attr]
        ssrc = sub.ssrc_of_mid(mid)
        body = payload(1)
        await c.send(rtp_packet(96, 7, 9000, c.local_ssrcs()["video"], body))
        await wait_for(lambda: any(p[12:] == body for p in sub.received.from_ssrc(ssrc)))
    finally:
        for peer in (a, b, c, d, sub):
            await peer.close()
        await sfu.close()


def vp8(key: bool, i: int) -> bytes:
    """A VP8 payload: descriptor (S=1, partition 0), then the frame tag (bit 0 clear: key)."""
    return bytes([0x10, 0x00 if key else 0x01]) + payload(i, 100)


async def test_a_slot_switching_to_a_running_video_waits_for_its_key_frame() -> None:
    sfu = SFU(ice_addresses=("127.0.0.1",), last_n=1)
    sfu.start()
    a, b = Peer(sfu, "a", CAM), Peer(sfu, "b", CAM)
    sub = Peer(sfu, "sub")
    try:
        for peer in (a, b):
            await peer.join(["video"])
        await sub.join(["audio"], direction="recvonly")
        await wait_for(lambda: shown(sub) == {"a"} and sub.offers_answered >= 1)
        mid = next(t.mid for t in sub.tracks.tracks)  # type: ignore[union-attr]
        ssrc = sub.ssrc_of_mid(mid)
        a_ssrc, b_ssrc = a.local_ssrcs()["video"], b.local_ssrcs()["video"]
        for i in range(3):
            await a.send(rtp_packet(96, 100 + i, 3000 * i, a_ssrc, vp8(i == 0, i)))
            await b.send(rtp_packet(96, 500 + i, 7000 + 3000 * i, b_ssrc, vp8(i == 0, 50 + i)))
        await wait_for(lambda: len(sub.received.from_ssrc(ssrc)) == 3)
        last_seq = struct.unpack_from("!H", sub.received.from_ssrc(ssrc)[-1], 2)[0]

        sfu.set_view(ROOM, "sub", (TileView("b", "camera", 320, 180),))  # b takes the slot
        await wait_for(lambda: shown(sub) == {"b"})
        for i in range(3, 6):  # b's delta frames: useless without the key frame, not sent
            await b.send(rtp_packet(96, 500 + i, 7000 + 3000 * i, b_ssrc, vp8(False, 50 + i)))
        await wait_for(lambda: any(isinstance(f, rtcp.Pli) for f in b.received.feedback()))
        await asyncio.sleep(0.2)
        assert len(sub.received.from_ssrc(ssrc)) == 3
        for i in range(6, 9):  # the key frame comes: from here on b flows, numbering continued
            await b.send(rtp_packet(96, 500 + i, 7000 + 3000 * i, b_ssrc, vp8(i == 6, 50 + i)))
        await wait_for(lambda: len(sub.received.from_ssrc(ssrc)) == 6)
        got = sub.received.from_ssrc(ssrc)  # in arrival order (sequence numbers may wrap)
        seqs = [struct.unpack_from("!H", p, 2)[0] for p in got]
        assert seqs[3:] == [(last_seq + 1 + i) & 0xFFFF for i in range(3)]
        first = got[3][12:]  # the first of b's is its key frame (frame 56)
        assert first[:2] == b"\x10\x00" and int.from_bytes(first[2:6], "big") == 56
        stamps = [struct.unpack_from("!I", p, 4)[0] for p in got]
        steps = [(t1 - t0) & 0xFFFFFFFF for t0, t1 in itertools.pairwise(stamps)]
        assert steps[:2] == steps[3:] == [3000, 3000]  # within a stream: as sent
        assert 3000 < steps[2] < 10 * 90000  # across the switch: the wall time between, forward
    finally:
        for peer in (a, b, sub):
            await peer.close()
        await sfu.close()
