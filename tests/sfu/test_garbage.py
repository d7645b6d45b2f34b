"""Garbage UDP is dropped and counted, and the room keeps working."""

from __future__ import annotations

import asyncio
import os
import socket

from sfu import aiortc_hook, rtcp, stun
from tests.sfu.peers import Peer, payload, rtp_packet, running_sfu, wait_for
from tests.sfu.test_parsers import all_corpus_files


def garbage() -> list[bytes]:
    rtp_ok = rtp_packet(96, 1, 2, 3, b"x" * 40)
    stun_ok = stun.binding_request(os.urandom(12), "nobody:x", b"k" * 24)
    items = [os.urandom(n) for n in (1, 2, 11, 12, 20, 100, 1200)]
    items += [rtp_ok[:n] for n in (1, 5, 11, 12)] + [rtcp.pli(1, 2)[:n] for n in (2, 7)]
    items += [stun_ok[:n] for n in (19, 20, 24, 40)] + [stun_ok, b""]
    items += [bytes([0x80]) + os.urandom(60), bytes([0x80, 200]) + os.urandom(40)]
    items += [bytes([22]) + os.urandom(50), bytes([0]) * 20]
    return items + [d[:60000] for d in all_corpus_files()]


async def test_garbage_is_dropped_and_counted_and_the_room_keeps_working() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", frozenset({"mic", "camera"})), Peer(sfu, "bob")
        try:
            await alice.join(["audio", "video"])
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered >= 1)
            junk = garbage()
            stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            from_alice = aiortc_hook.peer_udp_sender(alice.pc)
            for data in junk:
                stranger.sendto(data, ("127.0.0.1", sfu.port))
                from_alice(data)
                await asyncio.sleep(0)
            stranger.close()
            ssrcs = alice.local_ssrcs()
            for i in range(20):  # valid SRTP, SSRCs nobody announced
                await alice.send(rtp_packet(96, i, i, 0xDEAD0000 + i, payload(i)))
            await asyncio.sleep(0.3)
            stats = sfu.stats()
            dropped = sum(v for k, v in stats.items() if k not in ("nacks_sent",))
            assert stats["unknown_source"] >= len(junk) // 2
            assert stats["bad_stun"] >= 4 and stats["stun_unauthorized"] >= 2
            assert stats["srtp_rejected"] + stats["rtcp_rejected"] >= 2
            assert stats["unknown_ssrc"] >= 20
            assert dropped >= 2 * len(junk) - 50
            bodies = [payload(i) for i in range(30)]
            for i, body in enumerate(bodies):
                await alice.send(rtp_packet(96, 100 + i, i * 3000, ssrcs["video"], body))
            await wait_for(lambda: [p[12:] for p in bob.received.rtp[-30:]] == bodies)
            assert alice.pc.connectionState == "connected"
            assert sfu.rooms["room"].participants["alice"].transport.dtls_state() == "connected"
        finally:
            await alice.close()
            await bob.close()
