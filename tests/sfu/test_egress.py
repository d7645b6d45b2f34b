"""The egress process: copies for some subscribers are protected and sent by a second process
(same UDP port, the subscriber's own SRTP key); what arrives is decrypted by the subscriber's
real aiortc peer connection, so a wrong key, offset or address would show."""

from __future__ import annotations

import asyncio
from typing import Any

from sfu.server import SFU
from tests.sfu.peers import Peer, payload, rtp_packet, wait_for

CAM = frozenset({"camera"})


async def test_half_the_subscribers_are_served_by_the_egress_process() -> None:
    sfu = SFU(ice_addresses=("127.0.0.1",), egress=True)
    sfu.start()
    alice = Peer(sfu, "alice", CAM)
    subs = [Peer(sfu, f"sub{i}") for i in range(4)]
    try:
        await alice.join(["video"])
        for sub in subs:
            await sub.join(["audio"], direction="recvonly")
        await wait_for(lambda: all(s.tracks and s.offers_answered for s in subs))
        room = sfu.rooms["room"]
        on_child = [s for s in subs if room.participants[s.pid].transport.egress is not None]
        assert 1 <= len(on_child) < len(subs)  # some here, some there
        ssrc = alice.local_ssrcs()["video"]
        bodies = [payload(i) for i in range(20)]
        for i, body in enumerate(bodies):
            await alice.send(rtp_packet(96, 10 + i, 3000 * i, ssrc, body))
            await asyncio.sleep(0.002)
        for sub in subs:
            mid = sub.tracks.tracks[0].mid  # type: ignore[union-attr]
            out = sub.ssrc_of_mid(mid)
            await wait_for(lambda s=sub, o=out: len(s.received.from_ssrc(o)) >= 20)
            assert [p[12:] for p in sub.received.from_ssrc(out)] == bodies
        track = next(iter(room.participants["alice"].tracks.values()))
        assert len(track._targets) == len(subs) - len(on_child)  # the rest went to the child
        assert sfu.egress is not None and sfu.egress.dropped == 0
    finally:
        for peer in (alice, *subs):
            await peer.close()
        await sfu.close()


async def test_if_the_egress_process_dies_this_process_sends_again() -> None:
    sfu = SFU(ice_addresses=("127.0.0.1",), egress=True, egress_share=1.0)
    sfu.start()
    alice, bob = Peer(sfu, "alice", CAM), Peer(sfu, "bob")
    try:
        await alice.join(["video"])
        await bob.join(["audio"], direction="recvonly")
        await wait_for(lambda: bob.tracks is not None and bob.offers_answered >= 1)
        out = bob.ssrc_of_mid(bob.tracks.tracks[0].mid)  # type: ignore[union-attr]
        ssrc = alice.local_ssrcs()["video"]
        await alice.send(rtp_packet(96, 1, 0, ssrc, payload(1)))
        await wait_for(lambda: len(bob.received.from_ssrc(out)) == 1)
        assert sfu.egress is not None
        sfu.egress.proc.kill()
        await wait_for(lambda: sfu.egress is None, timeout=5)  # noticed within a second
        await alice.send(rtp_packet(96, 2, 3000, ssrc, payload(2)))
        await wait_for(lambda: len(bob.received.from_ssrc(out)) == 2)
    finally:
        await alice.close()
        await bob.close()
        await sfu.close()


async def test_the_egress_process_forgets_what_leaves() -> None:
    """A subscriber that leaves and a track that closes leave nothing behind in the child:
    the main process tells it (targets removed), so a long lesson's churn does not pile up."""
    sfu = SFU(ice_addresses=("127.0.0.1",), egress=True, egress_share=1.0)
    sfu.start()
    alice, bob = Peer(sfu, "alice", CAM), Peer(sfu, "bob")
    sent: list[tuple[Any, ...]] = []
    try:
        assert sfu.egress is not None
        original = sfu.egress.update_targets

        def spy(track: int, changed: list[Any], gone: list[Any]) -> None:
            sent.append((track, len(changed), len(gone)))
            original(track, changed, gone)

        sfu.egress.update_targets = spy  # type: ignore[method-assign]
        await alice.join(["video"])
        await bob.join(["audio"], direction="recvonly")
        await wait_for(lambda: bob.tracks is not None and bob.offers_answered >= 1)
        ssrc = alice.local_ssrcs()["video"]
        await alice.send(rtp_packet(96, 1, 0, ssrc, payload(1)))
        await wait_for(lambda: any(n_changed for _, n_changed, _ in sent))  # bob's target added
        await sfu.leave("room", "alice")  # the track closes: its targets go
        await wait_for(lambda: any(n_gone for _, _, n_gone in sent))
        added = sum(n for _, n, _ in sent)
        removed = sum(n for _, _, n in sent)
        assert added == removed == 1
    finally:
        await alice.close()
        await bob.close()
        await sfu.close()
