"""Speaker detection and loudest-K audio with real aiortc peers stamping ssrc-audio-level."""

from __future__ import annotations

import asyncio
import itertools
import struct

from sfu import negotiation as neg
from sfu.api import Speaking
from tests.sfu.peers import ROOM, Peer, running_sfu, wait_for

NAMES = ("p0", "p1", "p2", "p3", "host")


def audio_packet(seq: int, ssrc: int, ext_id: int, level: int) -> bytes:
    """Opus RTP with a one-byte ssrc-audio-level element: voice bit set, level in -dBov."""
    ext = b"\xbe\xde\x00\x01" + bytes([ext_id << 4, 0x80 | level, 0, 0])
    return bytes([0x90, 111]) + struct.pack("!HII", seq & 0xFFFF, seq * 960, ssrc) + ext + b"op"


class Voices:
    """Five publishers that each send a packet per round at their own level."""

    def __init__(self, peers: dict[str, Peer]) -> None:
        self.peers = peers
        self.seq = itertools.count(1)
        self.ssrcs = {name: p.local_ssrcs()["audio"] for name, p in peers.items()}
        self.ext_ids = {name: p.extension_id(neg.AUDIO_LEVEL_EXT) for name, p in peers.items()}

    async def speak(self, levels: dict[str, int], until, rounds: int = 300) -> None:  # type: ignore[no-untyped-def]
        for _ in range(rounds):
            seq = next(self.seq)
            for name, peer in self.peers.items():
                await peer.send(
                    audio_packet(seq, self.ssrcs[name], self.ext_ids[name], levels[name])
                )
            if until is not None and until():
                return
            await asyncio.sleep(0.02)
        if until is not None:
            raise AssertionError("condition not met while speaking")


def sources_of(sub: Peer, packets: list[bytes]) -> set[str]:
    assert sub.tracks is not None
    by_ssrc = {sub.ssrc_of_mid(t.mid): t.participant_id for t in sub.tracks.tracks}
    return {by_ssrc[struct.unpack_from("!I", p, 8)[0]] for p in packets}


def shown(sub: Peer) -> set[str]:
    return {t.participant_id for t in sub.tracks.tracks} if sub.tracks else set()


def last(sub: Peer) -> Speaking | None:
    return sub.speaking[-1] if sub.speaking else None


async def test_only_the_three_loudest_and_the_host_reach_a_subscriber() -> None:
    async with running_sfu() as sfu:
        peers = {name: Peer(sfu, name, frozenset({"mic"})) for name in NAMES}
        sub = Peer(sfu, "sub")
        try:
            for peer in peers.values():
                await peer.join(["audio"])
            await sub.join(["audio"], direction="recvonly")
            await wait_for(lambda: sub.tracks is not None and len(sub.tracks.tracks) == 4)
            await wait_for(
                lambda: all(
                    f"a=mid:{t.mid}" in sub.pc.remoteDescription.sdp for t in sub.tracks.tracks
                )
            )  # type: ignore[union-attr]
            sfu.set_host(ROOM, "host", True)
            voices = Voices(peers)
            levels = {"p0": 10, "p1": 20, "p2": 30, "p3": 40, "host": 100}
            await voices.speak(
                levels, lambda: last(sub) == Speaking("p0", ("p0", "p1", "p2", "p3"))
            )

            await wait_for(lambda: shown(sub) == {"p0", "p1", "p2", "host"})
            offers = sub.offers_answered
            room = sfu.rooms[ROOM]
            quiet = next(t for t in room.tracks if t.owner == "p3")
            before, dropped = len(sub.received.rtp), quiet.dropped_quiet
            await voices.speak(levels, None, rounds=10)
            await wait_for(lambda: quiet.dropped_quiet >= dropped + 10)
            await wait_for(lambda: len(sub.received.rtp) >= before + 40)
            assert sources_of(sub, sub.received.rtp[before:]) == {"p0", "p1", "p2", "host"}

            levels["p3"] = 0  # p3 shouts: it becomes the dominant speaker and is forwarded
            await voices.speak(levels, lambda: last(sub) is not None and last(sub).dominant == "p3")  # type: ignore[union-attr]
            await wait_for(lambda: shown(sub) == {"p0", "p1", "p3", "host"})
            before = len(sub.received.rtp)
            await voices.speak(levels, None, rounds=10)
            await wait_for(lambda: len(sub.received.rtp) >= before + 40)
            assert sub.offers_answered == offers  # p3 took p2's slot: SSRC rewritten, no offer
            got = sources_of(sub, sub.received.rtp[before:])
            assert "p3" in got and "host" in got and len(got) == 4
            assert all(a != b for a, b in itertools.pairwise(sub.speaking))  # only changes
            assert peers["p0"].speaking[-1] == sub.speaking[-1]  # every participant is told
        finally:
            for peer in [*peers.values(), sub]:
                await peer.close()


async def test_silence_is_not_forwarded_and_ends_the_speaking_set() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", frozenset({"mic"})), Peer(sfu, "bob")
        try:
            await alice.join(["audio"])
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered >= 1)
            voices = Voices({"alice": alice})
            await voices.speak({"alice": 20}, lambda: last(bob) == Speaking("alice", ("alice",)))
            await voices.speak({"alice": 127}, lambda: last(bob) == Speaking(None, ()))
            track = sfu.rooms[ROOM].tracks[0]
            dropped = track.dropped_quiet
            await voices.speak({"alice": 127}, None, rounds=5)
            await wait_for(lambda: track.dropped_quiet >= dropped + 5)
            seqs = [struct.unpack_from("!H", p, 2)[0] for p in bob.received.rtp]
            await voices.speak({"alice": 20}, lambda: len(bob.received.rtp) > len(seqs) + 3)
            after = [struct.unpack_from("!H", p, 2)[0] for p in bob.received.rtp]
            assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(after))
        finally:
            await alice.close()
            await bob.close()
