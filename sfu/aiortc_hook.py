"""Every use of aiortc's and aioice's private APIs lives here (aiortc is pinned to 1.16.0).

The SFU reuses aiortc's DTLS handshake (``RTCDtlsTransport``) over its own ICE-lite socket by
handing it a duck-typed ICE transport (``_recv`` / ``_send`` / ``role``), then re-exports the
SRTP keying material from the OpenSSL connection. Test clients and the benchmark use aiortc
peer connections and reach into their DTLS transport to send and receive raw RTP/RTCP.

tests/sfu/test_aiortc_hook.py checks every attribute used here, so an upgrade fails loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import aiortc
from aiortc.rtcdtlstransport import (
    RTCCertificate,
    RTCDtlsFingerprint,
    RTCDtlsParameters,
    RTCDtlsTransport,
)

from sfu.srtp import PROFILES, SrtpPair

logger = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
_DTLS_QUEUE = 64


def check_version() -> None:
    """Refuse to run against an aiortc this module was not written for."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise RuntimeError(
            f"sfu/aiortc_hook.py targets aiortc {AIORTC_VERSION}, found {aiortc.__version__}"
        )


def new_certificate() -> RTCCertificate:
    """A fresh ECDSA P-256 certificate (public aiortc API)."""
    return RTCCertificate.generateCertificate()


def sha256_fingerprint(cert: RTCCertificate) -> str:
    for fp in cert.getFingerprints():
        if fp.algorithm == "sha-256":
            return str(fp.value)
    raise RuntimeError("no sha-256 fingerprint")


class _IcePipe:
    """What RTCDtlsTransport expects of an RTCIceTransport: ``role``, ``_recv``, ``_send``."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self.role = "controlled"
        self._send_cb = send
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(_DTLS_QUEUE)

    async def _recv(self) -> bytes:
        data = await self._queue.get()
        if data is None:
            raise ConnectionError("transport closed")
        return data

    async def _send(self, data: bytes) -> None:
        self._send_cb(data)

    def feed(self, data: bytes | None) -> bool:
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            return False
        return True


class DtlsSession:
    """aiortc's DTLS handshake over datagrams the SFU feeds in; yields our SRTP sessions."""

    def __init__(self, cert: RTCCertificate, send: Callable[[bytes], None]) -> None:
        self._pipe = _IcePipe(send)
        self._dtls = RTCDtlsTransport(self._pipe, [cert])  # type: ignore[arg-type]
        self._closed = False

    def feed(self, data: bytes) -> bool:
        """A DTLS record from the peer; False if the queue is full (dropped)."""
        return self._pipe.feed(data)

    @property
    def state(self) -> str:
        return str(self._dtls.state)

    async def handshake(self, fingerprints: list[tuple[str, str]], server: bool) -> SrtpPair:
        """Run the handshake; raise ConnectionError if it or the fingerprint check fails."""
        params = RTCDtlsParameters(
            fingerprints=[RTCDtlsFingerprint(algorithm=a, value=v) for a, v in fingerprints]
        )
        self._dtls._set_role("server" if server else "client")
        await self._dtls.start(params)
        if self._dtls.state != "connected":
            raise ConnectionError(f"DTLS handshake ended {self._dtls.state}")
        return self._srtp_pair(server)

    def _srtp_pair(self, server: bool) -> SrtpPair:
        ssl: Any = self._dtls._ssl
        profile = PROFILES.get(ssl.get_selected_srtp_profile())
        if profile is None:
            raise ConnectionError("no SRTP profile negotiated")
        material = ssl.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length)
        )
        return SrtpPair.from_material(profile, bytes(material), is_server=server)

    async def close(self) -> None:
        """Stop the DTLS transport (sends close_notify when connected); idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self._dtls.stop()
        self._pipe.feed(None)


# ---- clients: test peers and the benchmark's load generator -------------------------------


RawHandler = Callable[[bytes], None]


def peer_dtls(pc: Any) -> Any:
    """The (single, BUNDLE'd) RTCDtlsTransport of an aiortc RTCPeerConnection."""
    return pc.getTransceivers()[0].sender.transport


async def send_raw(pc: Any, packet: bytes) -> None:
    """Protect and send one RTP or RTCP packet on a peer connection, bypassing its senders."""
    await peer_dtls(pc)._send_rtp(packet)


def tap_raw(pc: Any, on_rtp: RawHandler, on_rtcp: RawHandler) -> None:
    """Receive every decrypted RTP and RTCP packet as bytes instead of aiortc's receivers."""
    dtls = peer_dtls(pc)

    async def rtp(data: bytes, arrival_time_ms: int) -> None:
        on_rtp(data)

    async def rtcp(data: bytes) -> None:
        on_rtcp(data)

    dtls._handle_rtp_data = rtp
    dtls._handle_rtcp_data = rtcp


def peer_srtp_tx(pc: Any) -> Any:
    """The peer's outbound pylibsrtp Session (for a load generator that sends by itself)."""
    return peer_dtls(pc)._tx_srtp


def peer_srtp_rx(pc: Any) -> Any:
    """The peer's inbound pylibsrtp Session (to check a packet the benchmark diverted)."""
    return peer_dtls(pc)._rx_srtp


def peer_datagram_filter(pc: Any, keep: Callable[[bytes], bool]) -> None:
    """Drop the peer's incoming SRTP/SRTCP datagrams for which ``keep`` is False, before
    decryption (network loss, as the peer's SRTP replay window sees it)."""
    protocol = peer_dtls(pc).transport._connection._nominated[1].protocol
    original: Callable[[bytes, Any], None] = protocol.datagram_received

    def received(data: bytes, addr: Any) -> None:
        if not (data and 127 < data[0] < 192) or keep(data):
            original(data, addr)

    protocol.datagram_received = received


def peer_udp_sender(pc: Any) -> Callable[[bytes], None]:
    """Send a raw datagram from the peer's selected ICE socket to its selected remote."""
    pair = peer_dtls(pc).transport._connection._nominated[1]
    transport = pair.protocol.transport
    remote = pair.remote_addr
    return lambda data: transport.sendto(data, remote)


def peer_take_socket(pc: Any) -> tuple[socket.socket, Any]:
    """Take the peer's selected UDP socket away from aioice (a duplicate of its descriptor;
    aioice's own transport is closed). For a load generator that reads packets in bulk; the
    peer connection stops doing ICE consent, so use it for seconds, not minutes."""
    pair = peer_dtls(pc).transport._connection._nominated[1]
    transport = pair.protocol.transport
    fd = os.dup(transport.get_extra_info("socket").fileno())
    transport.abort()
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    return sock, pair.remote_addr


@contextlib.contextmanager
def loopback_candidates() -> Iterator[None]:
    """Make aioice gather 127.0.0.1 host candidates (it leaves loopback out) while active."""
    import aioice.ice

    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


def loopback_peer() -> Any:
    """An aiortc RTCPeerConnection for test peers and load generators: no STUN server, so no
    DNS lookup per connection (aiortc's default names a public one; where the resolver times
    out that costs 5 s a join)."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    return RTCPeerConnection(RTCConfiguration(iceServers=[]))
