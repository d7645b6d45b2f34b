"""RTP packets in, whole encoded frames out: header parsing and a small jitter buffer.

The SFU hands the compositor decrypted RTP packets as bytes, like to any subscriber. Packets
are reordered by sequence number; a video frame is complete when every packet from the frame's
first to its marker packet is there; loss or a stuck frame is given up after a bound and
reported so the caller can ask for a keyframe. Any byte string is safe input: malformed packets
are counted and dropped.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_FIXED = struct.Struct(">BBHII")
RTP_VERSION = 2


class RtpError(ValueError):
    """Not a well-formed RTP packet."""


@dataclass(frozen=True)
class RtpPacket:
    """The parts of an RTP packet the depacketizer needs."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse an RTP packet (RFC 3550), skipping CSRCs, header extensions and padding."""
    if len(data) < _FIXED.size:
        raise RtpError("shorter than an RTP header")
    first, second, seq, ts, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError("not RTP version 2")
    pos = _FIXED.size + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < pos + 4:
            raise RtpError("truncated header extension")
        pos += 4 + 4 * struct.unpack_from(">H", data, pos + 2)[0]
    end = len(data)
    if first & 0x20:
        if end <= pos:
            raise RtpError("padding without payload")
        end -= data[-1]
    if end <= pos:
        raise RtpError("no payload")
    return RtpPacket(second & 0x7F, bool(second & 0x80), seq, ts, ssrc, bytes(data[pos:end]))


@dataclass(frozen=True)
class PacketRun:
    """The packets of one frame, in order; ``after_loss`` if packets before it were lost."""

    timestamp: int
    packets: tuple[RtpPacket, ...]
    after_loss: bool


class JitterBuffer:
    """Reorders one stream's packets and releases complete frames in order.

    ``per_packet`` (audio): every packet is a frame. Otherwise a frame is the run of packets
    sharing a timestamp and ending with the marker bit.
    """

    def __init__(self, per_packet: bool = False, capacity: int = 256, max_frames: int = 8) -> None:
        self.per_packet = per_packet
        self.capacity = capacity
        self.max_frames = max_frames  # frames waiting behind a hole before we skip it
        self._packets: dict[int, RtpPacket] = {}
        self._next: int | None = None  # extended sequence number expected next
        self._last_ext = 0
        self._loss = False
        self.dropped = 0

    def _extend(self, seq: int) -> int:
        if self._next is None:
            self._last_ext = seq
            return seq
        base = self._last_ext
        candidate = (base & ~0xFFFF) | seq
        if candidate - base > 0x8000:
            candidate -= 0x10000
        elif base - candidate > 0x8000:
            candidate += 0x10000
        self._last_ext = max(base, candidate)
        return candidate

    def add(self, packet: RtpPacket) -> list[PacketRun]:
        ext = self._extend(packet.sequence)
        if self._next is None:
            self._next = ext
        if ext < self._next or ext in self._packets:
            self.dropped += 1  # late or duplicate
            return []
        if ext - self._next > 4 * self.capacity:  # a jump (new sender, garbage): start over
            self._packets.clear()
            self._next = ext
            self._loss = True
        self._packets[ext] = packet
        return self._drain()

    def _drain(self) -> list[PacketRun]:
        runs: list[PacketRun] = []
        while True:
            run = self._take_run()
            if run is None:
                if not self._stuck():
                    return runs
                self._skip_hole()
                continue
            runs.append(run)

    def _take_run(self) -> PacketRun | None:
        assert self._next is not None
        first = self._packets.get(self._next)
        if first is None:
            return None
        seqs = [self._next]
        while not self.per_packet and not self._packets[seqs[-1]].marker:
            following = self._packets.get(seqs[-1] + 1)
            if following is None or following.timestamp != first.timestamp:
                if following is None:
                    return None
                break  # timestamp changed without a marker: the marker packet was lost
            seqs.append(seqs[-1] + 1)
        packets = tuple(self._packets.pop(s) for s in seqs)
        self._next = seqs[-1] + 1
        run = PacketRun(first.timestamp, packets, self._loss)
        self._loss = False
        return run

    def _stuck(self) -> bool:
        if not self._packets:
            return False
        if len(self._packets) >= self.capacity:
            return True
        stamps = {p.timestamp for p in self._packets.values()}
        return len(stamps) > (1 if self.per_packet else self.max_frames)

    def _skip_hole(self) -> None:
        """Give up on what blocks the head: jump to the next frame that starts cleanly."""
        assert self._next is not None
        head_ts = self._packets[min(self._packets)].timestamp
        later = [s for s, p in self._packets.items() if p.timestamp != head_ts]
        target = min(later) if later and not self.per_packet else min(self._packets)
        for seq in [s for s in self._packets if s < target]:
            del self._packets[seq]
            self.dropped += 1
        self._next = target
        self._loss = True
