"""RTCP through the SFU: NACK recovery under loss, PLI throttle, receiver reports and REMB."""

from __future__ import annotations

import asyncio
import struct

import pytest

from sfu import rtcp
from tests.sfu.peers import Peer, payload, rtp_packet, running_sfu, wait_for

AV = frozenset({"mic", "camera"})


async def _pair(sfu, kinds=("audio", "video")):  # type: ignore[no-untyped-def]
    alice, bob = Peer(sfu, "alice", AV), Peer(sfu, "bob")
    await alice.join(list(kinds))
    await bob.join(["audio"], direction="recvonly")
    await wait_for(lambda: bob.offers_answered >= 1)
    return alice, bob


def _video_ssrc_at(bob: Peer) -> int:
    assert bob.tracks is not None
    mid = next(t.mid for t in bob.tracks.tracks if t.source == "camera")
    return bob.ssrc_of_mid(mid)


@pytest.mark.parametrize("egress", [False, True], ids=["here", "egress-process"])
async def test_nack_recovers_five_percent_loss_on_both_legs(egress: bool) -> None:
    async with running_sfu(egress) as sfu:
        alice, bob = await _pair(sfu)
        try:
            ssrc = alice.local_ssrcs()["video"]
            bodies = {1000 + i: payload(i) for i in range(200)}
            packets = {s: rtp_packet(96, s, s * 100, ssrc, b) for s, b in bodies.items()}
            for i, packet in enumerate(packets.values()):
                bob.drop_every = 20  # the downlink loses 5 % on first arrival
                if i % 20 != 7:  # the uplink loses 5 %: never sent until NACKed
                    await alice.send(packet)
                await asyncio.sleep(0.001)
            bob_ssrc = _video_ssrc_at(bob)
            assert bob.tracks is not None
            mid = next(t.mid for t in bob.tracks.tracks if t.source == "camera")
            rtx_ssrc = bob.rtx_ssrc_of_mid(mid)

            def recovered() -> set[bytes]:
                return set(bob.unwrapped(bob_ssrc, rtx_ssrc).values())

            for _ in range(100):
                for item in alice.received.feedback():
                    if isinstance(item, rtcp.Nack) and item.media_ssrc == ssrc:
                        for seq in item.seqs:
                            if seq in packets:
                                await alice.send(packets[seq])
                alice.received.rtcp.clear()
                seqs = set(bob.unwrapped(bob_ssrc, rtx_ssrc))
                missing = bob.missing_seqs(bob_ssrc, seqs)
                if missing:
                    await bob.send(rtcp.nack(1, bob_ssrc, missing))
                if recovered() >= set(bodies.values()):
                    break
                await asyncio.sleep(0.05)
            assert recovered() == set(bodies.values())
            assert len(bob.received.from_ssrc(rtx_ssrc)) >= 9  # answered in RTX, negotiated
            assert bob.dropped >= 9
            assert sfu.stats()["nacks_sent"] >= 1
        finally:
            await alice.close()
            await bob.close()


async def test_keyframe_requests_are_coalesced_to_one_per_half_second() -> None:
    async with running_sfu() as sfu:
        alice, bob = await _pair(sfu)
        try:
            ssrc = alice.local_ssrcs()["video"]
            await alice.send(rtp_packet(96, 1, 0, ssrc, payload(0)))
            await asyncio.sleep(1.1)  # let the subscription's own request age out
            alice.received.rtcp.clear()
            bob_ssrc = _video_ssrc_at(bob)
            for _ in range(10):
                await bob.send(rtcp.pli(1, bob_ssrc))
                await bob.send(rtcp.fir(1, bob_ssrc, 1))
            await asyncio.sleep(0.3)

            def plis() -> list[int]:
                return [f.media_ssrc for f in alice.received.feedback() if isinstance(f, rtcp.Pli)]

            assert plis() == [ssrc]  # one at once for twenty requests...
            assert sfu.stats()["keyframe_requests_in"] == 20
            await wait_for(lambda: len(plis()) == 2)  # ...and the rest served once, at 0.5 s
            await asyncio.sleep(0.8)
            assert plis() == [ssrc, ssrc]  # nothing more without new requests
            await bob.send(rtcp.pli(1, bob_ssrc))
            await wait_for(lambda: len(plis()) == 3)
        finally:
            await alice.close()
            await bob.close()


async def test_publisher_gets_receiver_reports_and_remb() -> None:
    async with running_sfu() as sfu:
        alice, bob = await _pair(sfu)
        try:
            ssrc = alice.local_ssrcs()["video"]
            for i in range(20):
                await alice.send(rtp_packet(96, 500 + i, i * 3000, ssrc, payload(i)))
            ntp = (0x12345678 << 32) | 0x9ABCDEF0
            await alice.send(rtcp.sender_report(ssrc, ntp, 57000, 20, 4000))

            def reports() -> list[rtcp.Feedback]:
                return alice.received.feedback()

            await wait_for(lambda: any(isinstance(f, rtcp.Remb) for f in reports()), 3)
            blocks = [b for f in reports() if isinstance(f, rtcp.ReceiverReports) for b in f.blocks]
            ours = [b for b in blocks if b.ssrc == ssrc and b.highest_seq & 0xFFFF == 519]
            assert ours and ours[-1].fraction_lost == 0 and ours[-1].lost == 0
            track = next(
                t for t in sfu.rooms["room"].participants["alice"].tracks.values() if t.ssrc == ssrc
            )
            track.on_sender_report(rtcp.SenderReport(ssrc, ntp, 57000, 20, 4000))
            block = track.report_block(track.last_sr_at + 0.5)
            assert block is not None and block.lsr == 0x56789ABC and block.dlsr == 32768
            remb = next(f for f in reports() if isinstance(f, rtcp.Remb))
            assert remb.ssrcs == (ssrc,) and remb.bitrate > 1_000_000
            bob_ssrc = _video_ssrc_at(bob)
            relayed = [f for f in bob.received.feedback() if isinstance(f, rtcp.SenderReport)]
            assert (bob_ssrc, ntp) in [(r.ssrc, r.ntp) for r in relayed]
            await bob.send(rtcp.remb(1, 640_000, [bob_ssrc]))
            participant = sfu.rooms["room"].participants["bob"]
            await wait_for(lambda: participant.transport.estimate_bps == 640_000)
        finally:
            await alice.close()
            await bob.close()


def test_nack_builder_round_trips() -> None:
    seqs = [65530, 65531, 65535, 0, 3, 40]
    parsed = rtcp.parse(rtcp.nack(1, 2, seqs))
    assert parsed is not None
    assert isinstance(parsed[0], rtcp.Nack)
    assert sorted(parsed[0].seqs) == sorted(seqs)
    assert struct.unpack_from("!I", rtcp.pli(7, 9), 8)[0] == 9


def test_missing_packets_are_bounded_and_given_up() -> None:
    from sfu.forwarder import MAX_MISSING, ReceiveStats

    stats = ReceiveStats()
    seq = 0
    stats.update(seq, 100)
    for _ in range(200):  # every other packet lost, for a long time
        seq += 2
        assert stats.update(seq & 0xFFFF, 100)
        assert len(stats.missing) <= MAX_MISSING + 1
    stats.update((seq - 1) & 0xFFFF, 100)  # a retransmission fills its hole
    assert (seq - 1) & 0xFFFF not in stats.missing
