"""Per-track forwarding: one :class:`Track` per published source, one :class:`DownTrack` per
subscriber. The hot path copies the decrypted packet into a shared buffer, writes the
subscriber's payload type, sequence number, timestamp and SSRC with one ``pack_into``, protects
it in place and sends it with one ``sendto``. No decode, no encode, no packet objects.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pylibsrtp._binding import lib

from sfu import rtcp, rtp
from sfu.api import MediaSink, SinkTrack, Source
from sfu.srtp import BUFFER_SIZE, PacketBuffer

if TYPE_CHECKING:
    from sfu.egress import EgressLink, EgressTarget
    from sfu.transport import Transport

logger = logging.getLogger(__name__)

# packets per track kept for NACK answers (powers of two): ~2 s of 720p video, ~2.5 s of Opus
CACHE_SIZE = {"video": 512, "audio": 128}
MAX_PACKET = BUFFER_SIZE - 160  # leaves room for the SRTP trailer
KEYFRAME_INTERVAL_S = 0.5  # PLIs to one publisher's stream at most this often
_HEADER = struct.Struct("!BHII")  # byte 1 (marker|PT), seq, timestamp, SSRC
_srtp_protect = lib.srtp_protect
_MAX_NACK_GAP = 128
MAX_MISSING = 256  # packets the SFU is still NACKing for one track
LEVEL_SMOOTHING = 0.3  # per packet (50 a second): a voice counts within ~0.1 s


@dataclass
class CodecInfo:
    """What a track carries: kind, codec key, clock rate, and the publisher's payload type."""

    kind: str
    name: str
    key: str
    clock_rate: int
    pt: int
    fmtp: str = ""
    channels: int = 0


class DownTrack:
    """One subscriber's copy of a track: its SSRC, payload type and sequence/timestamp offsets."""

    def __init__(self, track: Track, transport: Transport, ssrc: int, pt: int) -> None:
        self.track = track  # the published source (a simulcast group for simulcast)
        self.stream: Track = track  # what feeds this copy: the track, or one simulcast layer
        self.transport = transport
        self.ssrc = ssrc
        self.pt = pt
        self.seq_offset = random.randrange(1 << 16)
        self.ts_offset = random.randrange(1 << 32)
        self.pid_offset = 0  # VP8 picture id / TL0PICIDX offsets (simulcast layer switches)
        self.tl0_offset = 0
        self.target_layer = -1  # simulcast: the layer the subscriber should get (-1: unset)
        self.switched_at: int | None = None  # first outgoing seq after a layer switch
        # a slot's new video: seq, timestamp and time of the slot's last packet; the copy
        # waits for a key frame of its track and continues from there
        self.resume_from: tuple[int, int, float] | None = None
        self.active = False  # set once the subscriber's answer accepted this SSRC
        self.id_map: dict[int, int] | None = None  # header extension ids, when they differ
        self.rtx_pt = 0  # non-zero once the subscriber accepted RTX for this copy
        self.rtx_ssrc = 0
        self._rtx_seq = random.randrange(1 << 16)
        self.nacks_answered = 0
        self.closed = False

    def target(self) -> tuple[int, int, int, int, Any, Any, Any, int, int] | None:
        """The tuple the hot path iterates over, or None if this copy cannot be sent yet."""
        t = self.transport
        if not self.active or t.srtp is None or t.remote is None or self.id_map is not None:
            return None
        return (
            self.pt,
            self.seq_offset,
            self.ts_offset,
            self.ssrc,
            t.srtp.tx.ctx,
            *t.remote,
            self.pid_offset,
            self.tl0_offset,
        )

    def resync(self, last_in_seq: int, in_seq: int) -> None:
        """Keep the subscriber's sequence numbers continuous across a pause: the packet
        ``in_seq`` goes out right after the one ``last_in_seq`` went out as."""
        last_out = (last_in_seq + self.seq_offset) & 0xFFFF
        self.seq_offset = (last_out + 1 - in_seq) & 0xFFFF

    def _rewrite(self, data: bytes) -> bytearray:
        if self.id_map is not None:
            data = rtp.rewrite_extensions(data, self.id_map)
        seq, ts = struct.unpack_from("!HI", data, 2)
        out = bytearray(data)
        out_seq = (seq + self.seq_offset) & 0xFFFF
        ts_out = (ts + self.ts_offset) & 0xFFFFFFFF
        _HEADER.pack_into(out, 1, (data[1] & 0x80) | self.pt, out_seq, ts_out, self.ssrc)
        if self.stream.munge_vp8:
            fields = rtp.vp8_fields(data)
            if fields is not None:
                rtp.write_vp8_fields(out, fields, self.pid_offset, self.tl0_offset)
        return out

    def egress_target(self) -> EgressTarget | None:
        """The egress process's tuple for this copy, or None if it is not the child's to send."""
        t = self.transport
        link = t.egress
        if (
            link is None
            or not link.alive
            or not t.egress_ready
            or not self.active
            or t.remote is None
            or self.id_map is not None
        ):
            return None
        sock, addr = t.remote
        return (
            t.egress_sub,
            self.pt,
            self.seq_offset,
            self.ts_offset,
            self.ssrc,
            link.socket_index(sock),
            addr,
            self.pid_offset,
            self.tl0_offset,
        )

    def send(self, data: bytes) -> None:
        """The slow path: one packet with extension ids remapped."""
        self.transport.send_rtp(bytes(self._rewrite(data)))

    def _send_rtx(self, data: bytes) -> None:
        """A retransmission in the RTX stream: own SSRC and sequence, original seq first."""
        out = self._rewrite(data)
        size = rtp.header_length(out, len(out))
        if not size:
            return
        end = len(out) - (out[-1] if out[0] & 0x20 else 0)
        osn = bytes(out[2:4])
        self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        _HEADER.pack_into(
            out,
            1,
            (out[1] & 0x80) | self.rtx_pt,
            self._rtx_seq,
            struct.unpack_from("!I", out, 4)[0],
            self.rtx_ssrc,
        )
        out[0] &= ~0x20
        self.transport.send_rtp(bytes(out[:size]) + osn + bytes(out[size:end]))

    def on_nack(self, seqs: tuple[int, ...]) -> None:
        for out_seq in seqs:
            if self.switched_at is not None and rtp.seq_newer(self.switched_at, out_seq):
                continue  # sent from the layer before a switch: its cache is not this one
            packet = self.stream.cached((out_seq - self.seq_offset) & 0xFFFF)
            if packet is not None:
                self.nacks_answered += 1
                if self.rtx_pt:
                    self._send_rtx(packet)
                else:
                    self.send(packet)

    def close(self) -> None:
        """Detach from the track; idempotent."""
        if not self.closed:
            self.closed = True
            self.track.remove(self)
            if self.stream is not self.track:
                self.stream.remove(self)


class Track:
    """A published source (mic, camera, screen): receives the publisher's packets and fans out."""

    def __init__(
        self,
        owner: str,
        source: Source,
        codec: CodecInfo,
        publisher: Transport,
        tx: PacketBuffer,
        strip_ids: frozenset[int] = frozenset(),
    ) -> None:
        self.owner = owner
        self.source = source
        self.codec = codec
        self.publisher = publisher
        self.ssrc = 0  # learned from SDP or the first packet
        self.allowed = True
        self.strip_ids = strip_ids
        self.publisher_extmap: dict[str, int] = {}  # URI -> the publisher's id
        self.downtracks: list[DownTrack] = []
        self._targets: list[tuple[int, int, int, int, Any, Any, Any, int, int]] = []
        self._slow: list[DownTrack] = []
        self._dirty = True
        self._tx = tx
        size = CACHE_SIZE.get(codec.kind, 128)
        self._cache: list[bytes | None] = [None] * size
        self._cache_mask = size - 1
        self._last_keyframe_request = -KEYFRAME_INTERVAL_S
        self.keyframe_requests_sent = 0
        self.stats = ReceiveStats()
        self.forwarded = 0
        self.last_forwarded: int | None = None
        self.dropped_muted = 0
        self.send_errors = 0
        self.last_sr: rtcp.SenderReport | None = None
        self.last_sr_at = 0.0
        self.sinks: list[MediaSink] = []
        self.sink_errors = 0
        self.on_close: Callable[[Track], None] | None = None
        self.level_id = 0  # the publisher's ssrc-audio-level extension id (0: none)
        self.levels_seen = False
        self.loudness = 0.0  # smoothed 127 - dBov
        self.level_at = 0.0
        self.audible = True  # loudest-K: forwarded to subscribers (sinks get every voice)
        self.dropped_quiet = 0
        self.on_level: Callable[[float], None] | None = None
        # simulcast: a group has ``layers`` (low to high), each a Track fed by one RTP stream
        self.layers: list[Track] = []
        self.parent: Track | None = None
        self.rid = ""
        self.munge_vp8 = False  # a layer's VP8 picture ids are rewritten per subscriber
        self.pending: list[DownTrack] = []  # copies that switch to this layer at a key frame
        self.last_forwarded_at = 0.0
        self.is_video = codec.kind == "video"
        self.egress: EgressLink | None = None  # the SFU's egress process, if it has one
        self.egress_key = 0
        self._egress_on = False
        self._egress_sent: dict[tuple[int, int], EgressTarget] = {}
        self.bitrate_bps = 0.0  # measured once a second (simulcast layer choice)
        self._bytes_prior = 0
        self.paused = False  # dynacast: the publisher was asked to stop sending this layer
        self.unwanted_since: float | None = None
        self.closed = False

    # ---- simulcast --------------------------------------------------------------------------

    def add_layers(self, rids: list[str], strip_ids: frozenset[int]) -> None:
        """Make this track a simulcast group of one layer per rid (low to high)."""
        for index, rid in enumerate(rids):
            layer = Track(self.owner, self.source, self.codec, self.publisher, self._tx, strip_ids)
            layer.parent = self
            layer.rid = rid
            layer.layer_index = index
            layer.munge_vp8 = self.codec.name.lower() == "vp8"
            layer.allowed = self.allowed
            layer.egress = self.egress
            self.layers.append(layer)
        self.layers[-1].sinks = self.sinks  # in-process sinks get the best layer, unswitched

    layer_index = 0  # a layer's place in its group, low to high

    def want_layer(self, down: DownTrack, index: int) -> None:
        """Move a copy to layer ``index``: at once if it has sent nothing yet, else at the
        next key frame of that layer (requested), keeping its numbering continuous."""
        if not self.layers:
            return
        index = max(0, min(index, len(self.layers) - 1))
        down.target_layer = index
        layer = self.layers[index]
        for other in self.layers:
            if down in other.pending and other is not layer:
                other.pending.remove(down)
        if down.stream is layer:
            return
        if down.stream is self:  # not placed yet
            if down.resume_from is not None and layer._waits_for_keyframe():
                layer.pending.append(down)
                layer.request_keyframe()
                return
            down.stream = layer
            layer.add(down)
            return
        if down not in layer.pending:
            layer.pending.append(down)
        layer.request_keyframe()

    def _take_pending(self, data: bytes) -> None:
        """A key frame starts on this layer: the copies waiting for it switch here."""
        now = time.monotonic()
        fields = rtp.vp8_fields(data) if self.munge_vp8 else None
        seq = (data[2] << 8) | data[3]
        ts = int.from_bytes(data[4:8], "big")
        for down in self.pending:
            old = down.stream
            end = old.last_sent(down) if down.resume_from is None else None
            if down.resume_from is not None:  # a slot's new video continues the slot
                last_seq, last_ts, at = down.resume_from
                down.resume_from = None
                down.seq_offset = (last_seq + 1 - seq) & 0xFFFF
                step = max(1, int((now - at) * self.codec.clock_rate))
                down.ts_offset = (last_ts + step - ts) & 0xFFFFFFFF
            elif end is not None:
                last_seq, last_ts, last_pid, last_tl0 = end
                down.seq_offset = (last_seq + 1 - seq) & 0xFFFF
                step = max(1, int((now - old.last_forwarded_at) * self.codec.clock_rate))
                down.ts_offset = (last_ts + step - ts) & 0xFFFFFFFF
                if fields is not None and last_pid >= 0:
                    pid, tl0 = fields[1], fields[3]
                    mask = 0x7FFF if fields[2] else 0x7F
                    down.pid_offset = (last_pid + 1 - pid) & mask
                    if tl0 >= 0 and last_tl0 >= 0:
                        down.tl0_offset = (last_tl0 + 1 - tl0) & 0xFF
            if old is not self and not old.layers:
                old.remove(down)  # the layer it leaves (a group keeps its copies)
            down.stream = self
            down.switched_at = (seq + down.seq_offset) & 0xFFFF
            self.add(down)
        self.pending.clear()

    def last_sent(self, down: DownTrack) -> tuple[int, int, int, int] | None:
        """Outgoing seq, timestamp, VP8 picture id and TL0PICIDX (-1: none) of the last
        packet this stream sent to ``down``."""
        if self.last_forwarded is None:
            return None
        packet = self.cached(self.last_forwarded)
        if packet is None:
            return None
        ts = int.from_bytes(packet[4:8], "big")
        pid = tl0 = -1
        fields = rtp.vp8_fields(packet) if self.munge_vp8 else None
        if fields is not None:
            mask = 0x7FFF if fields[2] else 0x7F
            pid = (fields[1] + down.pid_offset) & mask if fields[0] else -1
            tl0 = (fields[3] + down.tl0_offset) & 0xFF if fields[3] >= 0 else -1
        return (
            (self.last_forwarded + down.seq_offset) & 0xFFFF,
            (ts + down.ts_offset) & 0xFFFFFFFF,
            pid,
            tl0,
        )

    def measure(self, dt: float) -> None:
        """Once a second: this stream's bitrate (bits/s, smoothed). A stream that sent nothing
        (paused, or stalled) keeps its last rate: that is what resuming it would cost."""
        sent = self.stats.bytes - self._bytes_prior
        self._bytes_prior = self.stats.bytes
        if sent <= 0 or dt <= 0:
            return
        rate = sent * 8 / dt
        self.bitrate_bps = rate if not self.bitrate_bps else 0.5 * (self.bitrate_bps + rate)

    # ---- subscribers ------------------------------------------------------------------------

    def add(self, down: DownTrack) -> None:
        if self.layers:  # a group: the copy goes on one layer
            self.downtracks.append(down)
            self.invalidate()
            self.want_layer(down, down.target_layer if down.target_layer >= 0 else 0)
            return
        if down.resume_from is not None and self._waits_for_keyframe():
            self.pending.append(down)  # a slot switching to a running video: at a key frame
            self.request_keyframe()
            return
        down.resume_from = None
        self.downtracks.append(down)
        self.invalidate()

    def _waits_for_keyframe(self) -> bool:
        return self.codec.kind == "video" and self.last_forwarded is not None

    def remove(self, down: DownTrack) -> None:
        if down in self.downtracks:
            self.downtracks.remove(down)
        if down in self.pending:
            self.pending.remove(down)
        for layer in self.layers:
            if down in layer.pending:
                layer.pending.remove(down)
        self.invalidate()

    def invalidate(self) -> None:
        """Rebuild the fan-out list before the next packet (a subscriber or its path changed)."""
        self._dirty = True
        for layer in self.layers:
            layer._dirty = True

    def _rebuild(self) -> None:
        self._dirty = False
        local: list[Target] = []
        slow: list[DownTrack] = []
        egress: list[EgressTarget] = []
        for down in self.downtracks:
            remote = down.egress_target()
            if remote is not None:
                egress.append(remote)
                continue
            target = down.target()
            if target is not None:
                local.append(target)
            elif down.active and down.transport.ready:
                slow.append(down)
        self._targets, self._slow = local, slow
        if self.egress is not None and (egress or self._egress_sent):
            self._update_egress(self.egress, egress)
        self._egress_on = bool(egress)

    def _update_egress(self, link: EgressLink, targets: list[EgressTarget]) -> None:
        """Tell the egress process what changed in this track's targets (not the whole list:
        a join changes one target of every track)."""
        if not self.egress_key:
            self.egress_key = link.new_key()
        new = {(t[0], t[4]): t for t in targets}
        old = self._egress_sent
        changed = [t for k, t in new.items() if old.get(k) != t]
        gone = [k for k in old if k not in new]
        if changed or gone:
            link.update_targets(self.egress_key, changed, gone)
        self._egress_sent = new

    def set_allowed(self, allowed: bool) -> None:
        """Server-side mute; on unmute, keep subscribers' sequence numbers continuous."""
        for layer in self.layers:
            layer.set_allowed(allowed)
        if allowed and not self.allowed and not self.layers:
            self._resume_pending = True
            self.request_keyframe()
        self.allowed = allowed

    _resume_pending = False

    def set_audible(self, audible: bool) -> None:
        """Loudest-K: start or stop forwarding this voice; numbering stays continuous."""
        if audible and not self.audible:
            self._resume_pending = True
        self.audible = audible

    def _on_level(self, data: bytes) -> None:
        value = rtp.extension_value(data, self.level_id)
        if not value:
            return
        now = time.monotonic()
        loudness = 127 - (value[0] & 0x7F)
        if self.levels_seen and now - self.level_at <= 1.0:
            self.loudness += (loudness - self.loudness) * LEVEL_SMOOTHING
        else:
            self.loudness = float(loudness)
        self.levels_seen = True
        self.level_at = now
        if self.on_level is not None:
            self.on_level(now)

    # ---- the packet path --------------------------------------------------------------------

    def on_rtp(self, data: bytes) -> None:
        """A decrypted packet from the publisher (header already validated)."""
        seq = (data[2] << 8) | data[3]
        if self.stats.update(seq, len(data)) and self.allowed:
            self.publisher.request_missing(self, seq)
        if not self.allowed:
            self.dropped_muted += 1
            return
        if self.level_id and data[0] & 0x10:
            self._on_level(data)
        if self.strip_ids and data[0] & 0x10:
            data = _strip_extensions(data, self.strip_ids)
        self._cache[seq & self._cache_mask] = data
        if not self.audible:
            self.dropped_quiet += 1
            if self.sinks:
                self._to_sinks(data)
            return
        if self._resume_pending:
            self._resume(seq)
        if self.pending and self._keyframe(data):
            self._take_pending(data)
        if self._dirty:
            self._rebuild()
        self.forwarded += 1
        last = self.last_forwarded
        if last is None or (seq - last) & 0xFFFF < 0x8000:  # not a late retransmission
            self.last_forwarded = seq
            if self.is_video:
                self.last_forwarded_at = time.monotonic()
        if self.munge_vp8:
            self._fan_out_vp8(data, seq)
        else:
            self._fan_out(data, seq)
        if self._egress_on:
            self.egress.packet(self.egress_key, self.munge_vp8, data)  # type: ignore[union-attr]
        for down in self._slow:
            down.send(data)
        if self.sinks:
            self._to_sinks(data)

    @property
    def info(self) -> SinkTrack:
        c = self.codec
        return SinkTrack(self.owner, self.source, c.kind, c.name.lower(), c.clock_rate, c.pt)

    def _to_sinks(self, data: bytes) -> None:
        info = self.info
        for sink in self.sinks:
            try:
                sink.packet(info, data)
            except Exception:  # a sink's bug must not stop forwarding
                self.sink_errors += 1
                logger.exception("media sink failed")

    def _fan_out(self, data: bytes, seq: int) -> None:
        self.send_errors += fan_out(self._targets, data, seq, self._tx)

    def _fan_out_vp8(self, data: bytes, seq: int) -> None:
        self.send_errors += fan_out_vp8(self._targets, data, seq, self._tx)

    def _keyframe(self, data: bytes) -> bool:
        size = rtp.header_length(data, len(data))
        if not size:
            return False
        end = len(data) - (data[-1] if data[0] & 0x20 else 0)
        payload = data[size:end]
        name = self.codec.name.lower()
        if name == "vp8":
            return rtp.vp8_keyframe(payload)
        return name == "h264" and rtp.h264_keyframe(payload)

    def _resume(self, seq: int) -> None:
        self._resume_pending = False
        if self.last_forwarded is not None:
            for down in self.downtracks:
                down.resync(self.last_forwarded, seq)
        self.invalidate()

    def report_block(self, now: float) -> rtcp.ReportBlock | None:
        """The receiver report block for this track, with LSR/DLSR so the publisher gets RTT."""
        lsr = dlsr = 0
        if self.last_sr is not None:
            lsr = (self.last_sr.ntp >> 16) & 0xFFFFFFFF
            dlsr = int((now - self.last_sr_at) * 65536) & 0xFFFFFFFF
        return self.stats.report_block(self.ssrc, lsr, dlsr)

    def cached(self, seq: int) -> bytes | None:
        packet = self._cache[seq & self._cache_mask]
        if packet is not None and (packet[2] << 8 | packet[3]) == seq:
            return packet
        return None

    # ---- feedback ---------------------------------------------------------------------------

    def request_keyframe(self) -> bool:
        """Ask the publisher for a key frame, at most once per KEYFRAME_INTERVAL_S; a request
        inside that window is not lost but served once at its end (a subscriber added just
        after the last key frame went by must not wait for its own decoder to ask)."""
        if self.layers:  # a group: the layers someone receives or waits for (else the best)
            used = [t for t in self.layers if t.downtracks or t.pending or t.sinks]
            return any([t.request_keyframe() for t in used or self.layers[-1:]])
        if self.codec.kind != "video" or not self.ssrc or self.closed:
            return False  # an SSRC not heard from yet: its first packets start a stream anyway
        wait = KEYFRAME_INTERVAL_S - (time.monotonic() - self._last_keyframe_request)
        if wait > 0:
            if not self._keyframe_deferred:
                self._keyframe_deferred = True
                asyncio.get_running_loop().call_later(wait, self._deferred_keyframe)
            return False
        now = time.monotonic()
        self._last_keyframe_request = now
        self.keyframe_requests_sent += 1
        self.publisher.send_rtcp(rtcp.pli(self.publisher.rtcp_ssrc, self.ssrc))
        return True

    _keyframe_deferred = False

    def _deferred_keyframe(self) -> None:
        self._keyframe_deferred = False
        self.request_keyframe()

    def on_sender_report(self, report: rtcp.SenderReport) -> None:
        """Relay the publisher's SR to each subscriber with its SSRC and timestamp base."""
        self.last_sr = report
        self.last_sr_at = time.monotonic()
        for down in self.downtracks:
            if down.active and down.transport.ready:
                packet = rtcp.sender_report(
                    down.ssrc,
                    report.ntp,
                    (report.rtp_ts + down.ts_offset) & 0xFFFFFFFF,
                    report.packets,
                    report.octets,
                )
                down.transport.send_rtcp(packet)

    def close(self) -> None:
        """Close every subscriber copy; idempotent."""
        if self.closed:
            return
        self.closed = True
        for down in list(self.downtracks) + list(self.pending):
            down.close()
        for layer in self.layers:
            layer.close()
        if self.egress is not None and self._egress_sent:  # the child forgets this track
            self.egress.update_targets(self.egress_key, [], list(self._egress_sent))
            self._egress_sent = {}
        if self.on_close is not None:
            self.on_close(self)


Target = tuple[int, int, int, int, Any, Any, Any, int, int]


def fan_out(targets: list[Target], data: bytes, seq: int, tx: PacketBuffer) -> int:
    """The hot path: one copy per target — PT, seq, timestamp and SSRC rewritten with one
    ``pack_into``, protected in place, sent with one ``sendto``. Returns the failed sends."""
    n = len(data)
    if n > MAX_PACKET or not targets:
        return 0
    ts = (data[4] << 24) | (data[5] << 16) | (data[6] << 8) | data[7]
    marker = data[1] & 0x80
    buf, view, c_data, c_len = tx.data, tx.view, tx.c_data, tx.c_len
    pack_into = _HEADER.pack_into
    protect = _srtp_protect
    errors = 0
    for pt, seq_off, ts_off, ssrc, ctx, sock, addr, _, _ in targets:
        buf[0:n] = data
        pack_into(buf, 1, marker | pt, (seq + seq_off) & 0xFFFF, (ts + ts_off) & 0xFFFFFFFF, ssrc)
        c_len[0] = n
        if protect(ctx, c_data, c_len) == 0:
            try:
                sock.sendto(view[: c_len[0]], addr)
            except OSError:
                errors += 1
    return errors


def fan_out_vp8(targets: list[Target], data: bytes, seq: int, tx: PacketBuffer) -> int:
    """The hot path of a VP8 simulcast layer: also rewrites picture id and TL0PICIDX, so each
    subscriber sees one continuous stream across layer switches."""
    fields = rtp.vp8_fields(data)
    if fields is None:
        return fan_out(targets, data, seq, tx)
    n = len(data)
    if n > MAX_PACKET or not targets:
        return 0
    has_pid, pid, wide, tl0, pid_pos, tl0_pos = fields
    mask = 0x7FFF if wide else 0x7F
    ts = (data[4] << 24) | (data[5] << 16) | (data[6] << 8) | data[7]
    marker = data[1] & 0x80
    buf, view, c_data, c_len = tx.data, tx.view, tx.c_data, tx.c_len
    pack_into = _HEADER.pack_into
    protect = _srtp_protect
    errors = 0
    for pt, seq_off, ts_off, ssrc, ctx, sock, addr, pid_off, tl0_off in targets:
        buf[0:n] = data
        pack_into(buf, 1, marker | pt, (seq + seq_off) & 0xFFFF, (ts + ts_off) & 0xFFFFFFFF, ssrc)
        if has_pid:
            out_pid = (pid + pid_off) & mask
            if wide:
                buf[pid_pos] = 0x80 | (out_pid >> 8)
                buf[pid_pos + 1] = out_pid & 0xFF
            else:
                buf[pid_pos] = out_pid
        if tl0 >= 0:
            buf[tl0_pos] = (tl0 + tl0_off) & 0xFF
        c_len[0] = n
        if protect(ctx, c_data, c_len) == 0:
            try:
                sock.sendto(view[: c_len[0]], addr)
            except OSError:
                errors += 1
    return errors


def _strip_extensions(data: bytes, ids: frozenset[int]) -> bytes:
    """Blank (zero = padding) the elements subscribers must not see, e.g. the publisher's mid."""
    found = [(i, o, n) for i, o, n in rtp.extensions(data) if i in ids]
    if not found:
        return data
    out = bytearray(data)
    two_byte = (data[12 + 4 * (data[0] & 0x0F)] << 8 | data[13 + 4 * (data[0] & 0x0F)]) >> 4
    head = 2 if two_byte == 0x100 else 1
    for _, offset, size in found:
        out[offset - head : offset + size] = bytes(size + head)
    return bytes(out)


class ReceiveStats:
    """Receive-side counters for one inbound stream (RFC 3550 A.3, without jitter)."""

    def __init__(self) -> None:
        self.base_seq: int | None = None
        self.max_seq = 0
        self.cycles = 0
        self.received = 0
        self.bytes = 0
        self._expected_prior = 0
        self._received_prior = 0
        self.missing: dict[int, int] = {}  # seq -> NACKs sent

    def update(self, seq: int, size: int) -> bool:
        """Count a packet; True if it opened a gap (packets to NACK are in ``missing``)."""
        self.received += 1
        self.bytes += size
        if self.base_seq is None:
            self.base_seq = self.max_seq = seq
            return False
        if self.missing:
            self.missing.pop(seq, None)
        delta = (seq - self.max_seq) & 0xFFFF
        if delta == 0 or delta >= 0x8000:
            return False  # duplicate or late (maybe a retransmission)
        if seq < self.max_seq:
            self.cycles += 1 << 16
        gap = delta > 1
        if gap and delta <= _MAX_NACK_GAP:
            if len(self.missing) > MAX_MISSING:
                self.missing.clear()  # hopeless: the key frame requests will recover
            for lost in range(1, delta):
                self.missing[(self.max_seq + lost) & 0xFFFF] = 0
        self.max_seq = seq
        return gap and delta <= _MAX_NACK_GAP

    def report_block(self, ssrc: int, lsr: int = 0, dlsr: int = 0) -> rtcp.ReportBlock | None:
        if self.base_seq is None:
            return None
        extended = self.cycles + self.max_seq
        expected = extended - self.base_seq + 1
        interval_expected = expected - self._expected_prior
        interval_received = self.received - self._received_prior
        self._expected_prior, self._received_prior = expected, self.received
        lost_interval = interval_expected - interval_received
        fraction = (lost_interval << 8) // interval_expected if interval_expected > 0 else 0
        fraction = max(0, min(255, fraction))
        lost = expected - self.received
        return rtcp.ReportBlock(ssrc, fraction, lost, extended & 0xFFFFFFFF, 0, lsr, dlsr)
