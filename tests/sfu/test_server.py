"""The SFU as signaling sees it: errors, TURN credentials, ICE restart, closing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import socket
import time
from collections.abc import Callable

import pytest

from sfu import aiortc_hook, sdp, stun
from sfu.api import MediaBackend, MediaError, NoMedia
from sfu.server import SFU
from tests.sfu.peers import ROOM, Peer, payload, rtp_packet, running_sfu, wait_for


def test_turn_rest_credentials_follow_coturn() -> None:
    sfu = SFU(turn_urls=("turn:turn.example.org:3478",), turn_secret="s3cret", turn_ttl_s=600)
    (server,) = sfu.ice_servers("alice")
    assert server.urls == ("turn:turn.example.org:3478",)
    assert server.username is not None and server.credential is not None
    expiry, who = server.username.split(":")
    assert who == "alice" and 595 <= int(expiry) - time.time() <= 600
    digest = hmac.new(b"s3cret", server.username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(server.credential) == digest
    assert SFU().ice_servers("alice") == ()


async def test_errors_are_media_errors_with_codes() -> None:
    async with running_sfu() as sfu:
        with pytest.raises(MediaError) as exc:
            await sfu.offer(ROOM, "ghost", "v=0")
        assert exc.value.code == "not_joined"
        await sfu.join(ROOM, "p", frozenset(), lambda e: None)
        for bad in ("", "v=0\r\n", "m=audio\r\n", "x" * 300_000):
            with pytest.raises(MediaError) as exc:
                await sfu.offer(ROOM, "p", bad)
            assert exc.value.code == "bad_sdp"
        with pytest.raises(MediaError) as exc:
            await sfu.answer(ROOM, "p", "v=0\r\nm=audio 9 RTP/AVP 0\r\n")
        assert exc.value.code == "no_offer"


async def test_port_range_and_announced_address() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    base = probe.getsockname()[1]
    probe.close()
    sfu = SFU(ice_addresses=("127.0.0.1",), port_min=base, port_max=base + 5)
    sfu.start()
    try:
        assert base <= sfu.port <= base + 5
        assert sfu.mux.candidates() == [f"1 1 udp 2130706431 127.0.0.1 {sfu.port} typ host"]
    finally:
        await sfu.close()
        await sfu.close()  # idempotent


async def test_ice_restart_keeps_tracks_and_moves_to_the_new_address() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", frozenset({"mic", "camera"})), Peer(sfu, "bob")
        cleanup: list[Callable[[], None]] = []
        try:
            await alice.join(["audio", "video"])
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered >= 1)
            old = sdp.parse(alice.pc.localDescription.sdp)
            ufrag = old.media_or_session(old.media[0], "ice-ufrag")
            restarted = alice.pc.localDescription.sdp.replace(
                f"ice-ufrag:{ufrag}", "ice-ufrag:new1"
            )
            answer = sdp.parse(await sfu.offer(ROOM, "alice", restarted))
            new_ufrag = answer.media_or_session(answer.media[0], "ice-ufrag")
            new_pwd = answer.media_or_session(answer.media[0], "ice-pwd")
            assert new_ufrag and new_pwd and new_ufrag != "new1"
            assert bob.tracks is not None and len(bob.tracks.tracks) == 2
            # the "new network": another socket, checks with the new credentials
            moved = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            cleanup.append(moved.close)
            moved.bind(("127.0.0.1", 0))
            moved.setblocking(False)
            loop = asyncio.get_running_loop()
            request = stun.binding_request(
                os.urandom(12), f"{new_ufrag}:new1", new_pwd.encode(), extra=b"\x00\x25\x00\x00"
            )  # USE-CANDIDATE
            moved.sendto(request, ("127.0.0.1", sfu.port))
            reply = stun.parse(await asyncio.wait_for(loop.sock_recv(moved, 2048), 5))
            assert reply is not None and reply.msg_type == stun.BINDING_SUCCESS
            body = payload(1)
            packet = rtp_packet(96, 9, 9, alice.local_ssrcs()["video"], body)
            moved.sendto(
                aiortc_hook.peer_srtp_tx(alice.pc).protect(packet), ("127.0.0.1", sfu.port)
            )
            await wait_for(lambda: any(p[12:] == body for p in bob.received.rtp))
            assert sfu.rooms[ROOM].participants["alice"].transport.remote is not None
            assert sfu.rooms[ROOM].participants["alice"].transport.remote[1] == moved.getsockname()
        finally:
            for close in cleanup:
                close()
            await alice.close()
            await bob.close()


async def test_close_room_and_close_are_idempotent() -> None:
    sfu = SFU(ice_addresses=("127.0.0.1",))
    peer = Peer(sfu, "p", frozenset({"mic"}))
    await peer.join(["audio"])
    await sfu.close_room(ROOM)
    await sfu.close_room(ROOM)
    assert ROOM not in sfu.rooms
    await sfu.close()
    await sfu.close()
    await peer.close()
    await asyncio.sleep(0)


def test_sfu_and_no_media_satisfy_the_backend_protocol() -> None:
    backends: list[MediaBackend] = [SFU(), NoMedia()]
    assert all(hasattr(b, "set_source_allowed") for b in backends)


async def test_a_client_whose_consent_checks_stop_is_no_longer_sent_to() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", frozenset({"mic", "camera"})), Peer(sfu, "bob")
        try:
            await alice.join(["audio", "video"])
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered >= 1)
            transport = sfu.rooms[ROOM].participants["bob"].transport
            transport.periodic(time.monotonic() + 5)  # checks are fresh: nothing happens
            assert transport.remote is not None
            transport.periodic(time.monotonic() + 31)
            assert transport.remote is None and sfu.stats()["consent_expired"] == 1
            ssrc = alice.local_ssrcs()["video"]
            await alice.send(rtp_packet(96, 1, 1, ssrc, payload(1)))
            await asyncio.sleep(0.2)
            assert bob.received.rtp == []
            assert len(sfu.rooms[ROOM].participants["alice"].tracks) == 2  # tracks stay
        finally:
            await alice.close()
            await bob.close()


async def test_a_client_reoffer_without_changes_gets_no_extra_offer() -> None:
    async with running_sfu() as sfu:
        alice, bob = Peer(sfu, "alice", frozenset({"mic", "camera"})), Peer(sfu, "bob")
        try:
            await alice.join(["audio", "video"])
            await bob.join(["audio"], direction="recvonly")
            await wait_for(lambda: bob.offers_answered == 1)
            await bob.renegotiate()
            await asyncio.sleep(0.3)
            assert bob.offers_answered == 1
            desc = sdp.parse(bob.pc.remoteDescription.sdp)
            # bob's own section, then every receive slot at once: K + 1 audio, N video
            slots = sfu.rooms[ROOM].speakers.k + 1 + sfu.last_n
            assert [m.direction for m in desc.media] == ["inactive"] + ["sendonly"] * slots
            assert sum(m.kind == "video" for m in desc.media) == sfu.last_n
        finally:
            await alice.close()
            await bob.close()
