"""Server-side mute and publish rights hold whatever the client sends; sources and codecs."""

from __future__ import annotations

import asyncio
import struct

from sfu import sdp
from tests.sfu.peers import ROOM, Peer, payload, rtp_packet, running_sfu, wait_for


def _ssrc_for(bob: Peer, source: str) -> int:
    assert bob.tracks is not None
    mid = next(t.mid for t in bob.tracks.tracks if t.source == source)
    return bob.ssrc_of_mid(mid)


async def test_server_side_mute_holds_against_a_client_that_keeps_sending() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", frozenset({"mic", "camera"})), Peer(sfu, "bob")
        try:
            await alice.join(["audio", "video"])
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered >= 1)
            ssrcs = alice.local_ssrcs()
            video, audio = _ssrc_for(bob, "camera"), _ssrc_for(bob, "mic")
            seq = 0

            async def burst(n: int) -> None:
                nonlocal seq
                for _ in range(n):
                    seq += 1
                    await alice.send(rtp_packet(96, seq, seq * 3000, ssrcs["video"], payload(seq)))
                    await alice.send(rtp_packet(96, seq, seq * 960, ssrcs["audio"], payload(seq)))
                await asyncio.sleep(0.2)

            await burst(10)
            assert len(bob.received.from_ssrc(video)) == 10
            sfu.set_source_allowed(ROOM, "alice", "camera", False)
            await burst(30)
            assert len(bob.received.from_ssrc(video)) == 10  # muted: nothing more
            assert len(bob.received.from_ssrc(audio)) == 40  # the mic still flows
            sfu.set_source_allowed(ROOM, "alice", "camera", True)
            await burst(10)
            got = bob.received.from_ssrc(video)
            assert len(got) == 20
            seqs = [struct.unpack_from("!H", p, 2)[0] for p in got]
            assert (seqs[10] - seqs[9]) & 0xFFFF == 1  # no gap for the subscriber's decoder
        finally:
            await alice.close()
            await bob.close()


async def test_publish_rights_hold_for_a_student_without_camera() -> None:
    async with running_sfu() as sfu:
        student, bob = Peer(sfu, "student", frozenset({"mic"})), Peer(sfu, "bob")
        try:
            answer = sdp.parse(await student.join(["audio", "video"]))
            assert [m.direction for m in answer.media] == ["recvonly", "inactive"]
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered >= 1)
            assert bob.tracks is not None
            assert [t.source for t in bob.tracks.tracks] == ["mic"]
            ssrcs = student.local_ssrcs()
            for i in range(10):
                await student.send(rtp_packet(96, i, i, ssrcs["video"], payload(i)))
            await asyncio.sleep(0.2)
            assert bob.received.rtp == []
            assert sfu.stats()["unknown_ssrc"] == 10
        finally:
            await student.close()
            await bob.close()


async def test_screen_share_is_a_second_video_source_and_h264_is_forwarded() -> None:
    async with running_sfu() as sfu:
        alice = Peer(sfu, "alice", frozenset({"mic", "camera", "screen"}))
        bob = Peer(sfu, "bob")
        try:
            await alice.join(["audio", "video", "video"], codecs="video/h264")
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered >= 1)
            assert bob.tracks is not None
            assert sorted(t.source for t in bob.tracks.tracks) == ["camera", "mic", "screen"]
            offer = sdp.parse(bob.pc.remoteDescription.sdp)
            videos = [m for m in offer.media if m.kind == "video" and m.direction == "sendonly"]
            assert {c.name for m in videos for c in m.codecs()} == {"H264", "rtx"}
            desc = sdp.parse(alice.pc.localDescription.sdp)
            screen_ssrc = [m.ssrcs()[0] for m in desc.media if m.kind == "video"][1]
            pt = int(sdp.parse(alice.pc.remoteDescription.sdp).media[2].formats[0])
            nal = bytes([0x65]) + payload(1)  # an IDR slice, single NAL unit packet
            await alice.send(rtp_packet(pt, 7, 90000, screen_ssrc, nal, marker=True))
            bob_screen = _ssrc_for(bob, "screen")
            await wait_for(lambda: len(bob.received.from_ssrc(bob_screen)) == 1)
            packet = bob.received.from_ssrc(bob_screen)[0]
            assert packet[12:] == nal and packet[1] & 0x80
            assert packet[1] & 0x7F == int(videos[1].formats[0])
        finally:
            await alice.close()
            await bob.close()


async def test_unpublish_and_leave_empty_the_others_slots_without_renegotiating() -> None:
    async with running_sfu() as sfu:
        alice = Peer(sfu, "alice", frozenset({"mic", "camera"}))
        bob = Peer(sfu, "bob")
        try:
            await alice.join(["audio", "video"])
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered >= 1)
            alice.pc.getTransceivers()[1].direction = "inactive"
            await alice.renegotiate()
            await wait_for(
                lambda: bob.tracks is not None and [t.source for t in bob.tracks.tracks] == ["mic"]
            )
            await sfu.leave(ROOM, "alice")
            await sfu.leave(ROOM, "alice")  # idempotent
            await wait_for(lambda: bob.tracks is not None and bob.tracks.tracks == ())
            assert bob.offers_answered == 1  # the slots stay; only `tracks` changed
            room = sfu.rooms[ROOM]
            assert room.participants["bob"].downs == {}
        finally:
            await alice.close()
            await bob.close()


async def test_glare_the_clients_offer_wins_and_the_sfu_offers_again() -> None:
    async with running_sfu() as sfu:
        alice = Peer(sfu, "alice", frozenset({"mic", "camera"}))
        bob, carol = Peer(sfu, "bob"), Peer(sfu, "carol", frozenset({"mic", "camera"}))
        try:
            await bob.join(["audio"], direction="recvonly")
            bob.processing.clear()  # bob's client is busy: the SFU's first offer waits
            await alice.join(["audio", "video"])  # the SFU offers bob his receive slots
            await asyncio.sleep(0.1)
            bob.pc.addTransceiver("video", direction="recvonly")
            await bob.renegotiate()  # crosses the SFU's pending offer
            bob.processing.set()
            # the stale offer lacks bob's new m-section (a browser refuses it; aiortc fails
            # half-way); the SFU's next offer is whole and is answered
            await wait_for(lambda: bob.offers_answered + bob.offers_failed >= 2)
            await wait_for(lambda: bob.offers_answered >= 1)
            await carol.join(["audio", "video"])  # fills free slots: no offer
            await wait_for(lambda: bob.tracks is not None and len(bob.tracks.tracks) == 4)
            ssrc = carol.local_ssrcs()["video"]
            body = payload(3)
            await carol.send(rtp_packet(96, 1, 1, ssrc, body))
            await wait_for(lambda: any(p[12:] == body for p in bob.received.rtp))
        finally:
            for peer in (alice, bob, carol):
                await peer.close()
