"""Real aiortc peers over loopback through the SFU: bytes, continuity, rights."""

from __future__ import annotations

import itertools
import struct

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
