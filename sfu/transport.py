"""One participant's BUNDLE'd, rtcp-mux transport: ICE-lite state, DTLS, SRTP, and the routing
of its inbound RTP (to the tracks it publishes) and RTCP (to the tracks it receives).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from sfu import rtcp, rtp
from sfu.aiortc_hook import DtlsSession
from sfu.ice import Address, IceLiteMux
from sfu.srtp import PacketBuffer, SrtpPair

if TYPE_CHECKING:
    from aiortc.rtcdtlstransport import RTCCertificate

    from sfu.egress import EgressLink
    from sfu.forwarder import DownTrack, Track

logger = logging.getLogger(__name__)

NACK_RETRY_S = 0.05
NACK_ATTEMPTS = 3
REMB_BPS = 3_000_000  # the uplink ceiling announced to publishers
CONSENT_TIMEOUT_S = 30.0  # RFC 7675: clients send a check every ~5 s


class Transport:
    """ICE-lite + DTLS-SRTP for one participant; owns nothing but its sessions."""

    def __init__(
        self,
        name: str,
        mux: IceLiteMux,
        cert: RTCCertificate,
        counters: Counter[str],
        egress: EgressLink | None = None,
    ) -> None:
        self.name = name
        # the egress process sends this subscriber's media (sfu/egress.py); 0: this process
        self.egress = egress
        self.egress_sub = egress.new_key() if egress is not None else 0
        self.egress_ready = False
        self.mux = mux
        self.counters = counters
        self.local_ufrag = secrets.token_hex(4)
        self.local_pwd = secrets.token_hex(12).encode()
        self.remote: tuple[socket.socket, Address] | None = None
        self.srtp: SrtpPair | None = None
        self.rtcp_ssrc = random.randrange(1, 1 << 32)
        self.inbound: dict[int, Track] = {}
        self.outbound: dict[int, DownTrack] = {}
        self.mid_tracks: dict[str, Track] = {}
        self.mid_ext_id = 0
        self.rid_ext_id = 0
        self.estimate_bps = 0  # the subscriber's REMB: caps its simulcast layers
        self.estimate_fell_at = -1e9  # when the REMB last went down (congestion, not ramp-up)
        self.fraction_lost = 0
        self.on_ready: Callable[[], None] | None = None
        self._dtls = DtlsSession(cert, self._send_dtls)
        self._dtls_task: asyncio.Task[None] | None = None
        self._buf = PacketBuffer()
        self._ufrags = {self.local_ufrag}
        self.last_check = 0.0
        self.closed = False
        mux.register(self.local_ufrag, self)

    @property
    def ready(self) -> bool:
        return self.srtp is not None and self.remote is not None

    # ---- ICE --------------------------------------------------------------------------------

    def on_binding(self, sock: socket.socket, addr: Address, ufrag: str, nominated: bool) -> None:
        """Select the address of a nominated check (or the first valid one)."""
        self.last_check = time.monotonic()
        if ufrag == self.local_ufrag and len(self._ufrags) > 1:
            self._forget_old_ufrags()
        if self.remote is not None and (self.remote[1] == addr or not nominated):
            return
        if self.remote is not None:
            self.mux.unbind_address(self.remote[1])
        self.remote = (sock, addr)
        self.mux.bind_address(addr, self)
        logger.debug("%s: ICE selected %s", self.name, addr)
        self._changed()

    def restart_ice(self) -> None:
        """New credentials; the old ones keep working until a check uses the new ufrag."""
        self.local_ufrag = secrets.token_hex(4)
        self.local_pwd = secrets.token_hex(12).encode()
        self._ufrags.add(self.local_ufrag)
        self.mux.register(self.local_ufrag, self)

    def _forget_old_ufrags(self) -> None:
        self.mux.unregister(self)
        self._ufrags = {self.local_ufrag}
        self.mux.register(self.local_ufrag, self)
        if self.remote is not None:
            self.mux.bind_address(self.remote[1], self)

    # ---- DTLS -------------------------------------------------------------------------------

    def start_dtls(self, fingerprints: list[tuple[str, str]], server: bool) -> None:
        """Start the handshake once (the first negotiation carries the peer's fingerprints)."""
        if self._dtls_task is None:
            self._dtls_task = asyncio.ensure_future(self._handshake(fingerprints, server))

    async def _handshake(self, fingerprints: list[tuple[str, str]], server: bool) -> None:
        try:
            self.srtp = await self._dtls.handshake(fingerprints, server)
        except ConnectionError as exc:
            self.counters["dtls_failed"] += 1
            logger.info("%s: DTLS failed: %s", self.name, exc)
            return
        if self.egress is not None and self.srtp.tx_key:
            self.egress.add_session(self.egress_sub, self.srtp.profile, self.srtp.tx_key)
            self.egress_ready = True
        logger.debug("%s: DTLS connected", self.name)
        self._changed()

    def _send_dtls(self, data: bytes) -> None:
        if self.remote is not None:
            self.mux.send(self.remote[0], data, self.remote[1])

    def _changed(self) -> None:
        if self.on_ready is not None and self.ready:
            self.on_ready()

    # ---- inbound ----------------------------------------------------------------------------

    def on_datagram(self, buf: PacketBuffer, length: int) -> None:
        first = buf.data[0]
        if 127 < first < 192:
            if self.srtp is None:
                self.counters["media_before_dtls"] += 1
            elif 192 <= buf.data[1] <= 223:
                self._srtcp(buf, length)
            else:
                self._srtp_in(buf, length)
        elif 19 < first < 64:
            if not self._dtls.feed(bytes(buf.view[:length])):
                self.counters["dtls_dropped"] += 1
        else:
            self.counters["garbage"] += 1

    def _srtp_in(self, buf: PacketBuffer, length: int) -> None:
        assert self.srtp is not None
        size = self.srtp.rx.unprotect(buf, length)
        if size < 12:  # libsrtp has validated the CSRC and extension lengths
            self.counters["srtp_rejected"] += 1
            return
        ssrc = int.from_bytes(buf.data[8:12], "big")
        track = self.inbound.get(ssrc) or self._learn_ssrc(ssrc, buf, size)
        if track is None:
            self.counters["unknown_ssrc"] += 1
            return
        track.on_rtp(bytes(buf.view[:size]))

    def _learn_ssrc(self, ssrc: int, buf: PacketBuffer, size: int) -> Track | None:
        """An SSRC the SDP did not list: bind it by the mid header extension."""
        if not self.mid_ext_id:
            return None
        packet = bytes(buf.view[:size])
        value = rtp.extension_value(packet, self.mid_ext_id)
        track = self.mid_tracks.get(value.decode(errors="replace")) if value else None
        if track is not None and track.layers:  # simulcast: the rid names the layer
            rid = rtp.extension_value(packet, self.rid_ext_id) if self.rid_ext_id else None
            name = rid.decode(errors="replace") if rid else ""
            track = next((t for t in track.layers if t.rid == name), None)
        if track is not None and track.ssrc == 0:
            track.ssrc = ssrc
            self.inbound[ssrc] = track
            return track
        return None

    def _srtcp(self, buf: PacketBuffer, length: int) -> None:
        assert self.srtp is not None
        size = self.srtp.rx.unprotect_rtcp(buf, length)
        items = rtcp.parse(bytes(buf.view[:size])) if size else None
        if items is None:
            self.counters["rtcp_rejected"] += 1
            return
        for item in items:
            self._feedback(item)

    def _feedback(self, item: rtcp.Feedback) -> None:
        if isinstance(item, rtcp.Nack):
            down = self.outbound.get(item.media_ssrc)
            if down is not None:
                down.on_nack(item.seqs)
        elif isinstance(item, rtcp.Pli):
            self._keyframe_wanted(item.media_ssrc)
        elif isinstance(item, rtcp.Fir):
            for ssrc in item.media_ssrcs:
                self._keyframe_wanted(ssrc)
        elif isinstance(item, rtcp.Remb):
            if item.bitrate < self.estimate_bps:
                self.estimate_fell_at = time.monotonic()
            self.estimate_bps = item.bitrate
        elif isinstance(item, rtcp.SenderReport):
            track = self.inbound.get(item.ssrc)
            if track is not None:
                track.on_sender_report(item)
        elif isinstance(item, rtcp.ReceiverReports):
            for block in item.blocks:
                if block.ssrc in self.outbound:
                    self.fraction_lost = block.fraction_lost

    def _keyframe_wanted(self, ssrc: int) -> None:
        down = self.outbound.get(ssrc)
        if down is not None:
            self.counters["keyframe_requests_in"] += 1
            down.stream.request_keyframe()

    # ---- outbound ---------------------------------------------------------------------------

    def send_rtp(self, packet: bytes) -> None:
        """One RTP packet (NACK answers, the slow path). A subscriber the egress process sends
        to gets it from there too: one SRTP context per SSRC, whatever the path."""
        link = self.egress
        if link is not None and link.alive and self.egress_ready and self.remote is not None:
            sock, addr = self.remote
            link.send_one(self.egress_sub, link.socket_index(sock), addr, packet)
            return
        self._send_protected(packet, rtcp=False)

    def send_rtcp(self, packet: bytes) -> None:
        self._send_protected(packet, rtcp=True)

    def _send_protected(self, packet: bytes, rtcp: bool) -> None:
        if self.srtp is None or self.remote is None or len(packet) > 1400:
            return
        buf = self._buf
        buf.data[: len(packet)] = packet
        tx = self.srtp.tx
        size = tx.protect_rtcp(buf, len(packet)) if rtcp else tx.protect(buf, len(packet))
        if size:
            self.mux.send(self.remote[0], bytes(buf.view[:size]), self.remote[1])

    def request_missing(self, track: Track, seq: int) -> None:
        """NACK the publisher for packets the SFU itself lost, with a few retries."""
        missing = track.stats.missing
        for s in [s for s, tries in missing.items() if tries >= NACK_ATTEMPTS]:
            del missing[s]  # given up
        seqs = list(missing)
        if not seqs:
            return
        for s in seqs:
            missing[s] += 1
        self.counters["nacks_sent"] += 1
        self.send_rtcp(rtcp.nack(self.rtcp_ssrc, track.ssrc, seqs))
        asyncio.get_running_loop().call_later(NACK_RETRY_S, self._retry_nack, track)

    def _retry_nack(self, track: Track) -> None:
        if not self.closed and not track.closed and track.stats.missing:
            self.request_missing(track, 0)

    def periodic(self, now: float) -> None:
        """Once a second: receiver reports for what we receive, REMB to keep publishers up;
        stop sending to a client whose consent checks stopped (its tracks stay)."""
        if self.remote is not None and now - self.last_check > CONSENT_TIMEOUT_S:
            self._consent_expired()
        if not self.ready:
            return
        blocks = [b for t in set(self.inbound.values()) if (b := t.report_block(now))]
        if blocks:
            self.send_rtcp(rtcp.receiver_report(self.rtcp_ssrc, blocks))
            ssrcs = sorted({t.ssrc for t in self.inbound.values() if t.codec.kind == "video"})
            if ssrcs:
                self.send_rtcp(rtcp.remb(self.rtcp_ssrc, REMB_BPS, ssrcs))

    def _consent_expired(self) -> None:
        assert self.remote is not None
        logger.info("%s: no ICE check for %.0f s, path dropped", self.name, CONSENT_TIMEOUT_S)
        self.counters["consent_expired"] += 1
        self.mux.unbind_address(self.remote[1])
        self.remote = None
        for down in self.outbound.values():
            down.track.invalidate()

    def dtls_state(self) -> str:
        return self._dtls.state

    async def close(self) -> None:
        """Close DTLS and SRTP and leave the mux; idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.egress is not None and self.egress_ready:
            self.egress.drop_session(self.egress_sub)
        self.mux.unregister(self)
        if self._dtls_task is not None:
            self._dtls_task.cancel()
        await self._dtls.close()
        if self.srtp is not None:
            self.srtp.close()
            self.srtp = None
        self.remote = None
