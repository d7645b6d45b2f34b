"""Real aiortc peers over loopback through the SFU: bytes, continuity, rights."""

from __future__ import annotations

import itertools
import re
import struct

from sfu import rtp
from tests.sfu.peers import Peer, payload, rtp_packet, running_sfu, wait_for

AV = frozenset({"mic", "camera"})


async def test_payload_bytes_arrive_unchanged_with_continuous_numbering() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", AV), Peer(sfu, "bob")
        try:
            await alice.join(["audio", "video"])
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.tracks is not None and len(bob.tracks.tracks) == 2)
            await wait_for(lambda: bob.offers_answered >= 1)
            ssrcs = alice.local_ssrcs()
            sent = [payload(i) for i in range(50)]
            for i, body in enumerate(sent):
                await alice.send(rtp_packet(96, 1000 + i, 90000 + i * 3000, ssrcs["video"], body))
            await wait_for(lambda: len(bob.received.rtp) >= 50)
            got = bob.received.rtp
            assert [p[12:] for p in got] == sent
            seqs = [struct.unpack_from("!H", p, 2)[0] for p in got]
            assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
            stamps = [struct.unpack_from("!I", p, 4)[0] for p in got]
            assert all((b - a) & 0xFFFFFFFF == 3000 for a, b in itertools.pairwise(stamps))
            assert len({struct.unpack_from("!I", p, 8)[0] for p in got}) == 1
        finally:
            await alice.close()
            await bob.close()


def _renumber(offer: str) -> str:
    """The subscriber's own numbering: VP8 as PT 120, audio level as extension id 5."""
    head, _, video = offer.partition("m=video")
    head = head.replace(
        "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:5 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    )
    return head + "m=video" + re.sub(r"\b97\b", "120", video)


async def test_payload_type_and_extension_ids_follow_the_subscriber() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", AV), Peer(sfu, "bob")
        try:
            await alice.join(["audio", "video"])
            await bob.join(
                ["audio", "video"], direction="recvonly", codecs="video/vp8", munge=_renumber
            )
            await wait_for(lambda: bob.offers_answered >= 1)
            ssrcs = alice.local_ssrcs()
            level = bytes([0x90, 0x01, 0x00, 0x00, 0xBE, 0xDE, 0x00, 0x01])
            ext = b"\xbe\xde\x00\x02" + b"\x10" + b"0" + b"\x20" + bytes([0x85]) + bytes(4)
            audio = bytes([0x90, 111]) + struct.pack("!HII", 5, 960, ssrcs["audio"]) + ext
            await alice.send(audio + b"opus-frame")
            await alice.send(rtp_packet(97, 5, 3000, ssrcs["video"], b"vp8-frame"))
            await wait_for(lambda: len(bob.received.rtp) == 2)
            by_kind = {p[-9:]: p for p in bob.received.rtp}
            assert by_kind[b"vp8-frame"][1] & 0x7F == 120
            got_audio = next(p for p in bob.received.rtp if p.endswith(b"opus-frame"))
            assert rtp.extensions(got_audio) == [(5, 17, 1)]  # mid gone, level under id 5
            assert rtp.extension_value(got_audio, 5) == bytes([0x85])
            assert level  # documents the one-byte header form used above
        finally:
            await alice.close()
            await bob.close()
