"""sfu/aiortc_hook.py reaches into aiortc's and aioice's private parts; these tests name every
one of them, so an aiortc or aioice upgrade that moves one fails here, loudly."""

from __future__ import annotations

import inspect

import aioice.ice
import aiortc
import pytest
from aiortc.rtcdtlstransport import RTCDtlsTransport

from sfu import aiortc_hook
from tests.sfu.peers import Peer, running_sfu


def test_pinned_aiortc_version() -> None:
    assert aiortc.__version__ == aiortc_hook.AIORTC_VERSION
    aiortc_hook.check_version()


def test_version_check_refuses_another_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match=r"1\.16\.0"):
        aiortc_hook.check_version()


def test_dtls_transport_private_surface() -> None:
    """RTCDtlsTransport reads the ICE transport through ``_recv``/``_send``/``role`` only."""
    source = inspect.getsource(RTCDtlsTransport)
    assert "self.transport._recv()" in source
    assert "await self.transport._send(data)" in source
    assert "self.transport.role" in source
    for name in ("_set_role", "_send_rtp", "_handle_rtp_data", "_handle_rtcp_data", "start"):
        assert callable(getattr(RTCDtlsTransport, name))
    for attr in ("_ssl", "_rx_srtp", "_tx_srtp"):
        assert attr in source
    setup = inspect.getsource(RTCDtlsTransport._setup_srtp)
    assert 'b"EXTRACTOR-dtls_srtp"' in setup and "get_selected_srtp_profile" in setup


def test_aioice_private_surface() -> None:
    assert inspect.signature(aioice.ice.get_host_addresses).parameters.keys() == {
        "use_ipv4",
        "use_ipv6",
    }
    pair_source = inspect.getsource(aioice.ice.CandidatePair)
    assert "self.protocol" in pair_source and "remote_addr" in pair_source
    assert "_nominated" in inspect.getsource(aioice.ice.Connection)
    assert hasattr(aioice.ice.StunProtocol, "datagram_received")


def test_loopback_candidates_restores_aioice() -> None:
    original = aioice.ice.get_host_addresses
    with aiortc_hook.loopback_candidates():
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses is original


async def test_dtls_session_yields_working_srtp_keys() -> None:
    """A real handshake through the hook: the forwarded packet decrypts at the aiortc peer."""
    async with running_sfu() as sfu:
        peer = Peer(sfu, "p", frozenset({"mic"}))
        try:
            await peer.join(["audio"])
            transport = sfu.rooms["room"].participants["p"].transport
            assert transport.dtls_state() == "connected" and transport.srtp is not None
            assert aiortc_hook.peer_srtp_tx(peer.pc) is not None
            assert aiortc_hook.peer_srtp_rx(peer.pc) is not None
            assert callable(aiortc_hook.peer_udp_sender(peer.pc))
        finally:
            await peer.close()
