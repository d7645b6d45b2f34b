"""RTCP: parse the feedback an SFU acts on and build what it sends. Parsing never raises;
malformed packets are skipped (the caller counts them).
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

logger = logging.getLogger(__name__)

SR, RR, SDES, BYE, RTPFB, PSFB = 200, 201, 202, 203, 205, 206
FMT_NACK, FMT_TWCC = 1, 15
FMT_PLI, FMT_FIR, FMT_REMB = 1, 4, 15


@dataclass(frozen=True)
class Nack:
    media_ssrc: int
    seqs: tuple[int, ...]


@dataclass(frozen=True)
class Pli:
    media_ssrc: int


@dataclass(frozen=True)
class Fir:
    media_ssrcs: tuple[int, ...]


@dataclass(frozen=True)
class Remb:
    bitrate: int
    ssrcs: tuple[int, ...]


@dataclass(frozen=True)
class SenderReport:
    ssrc: int
    ntp: int
    rtp_ts: int
    packets: int
    octets: int


@dataclass(frozen=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int
    lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(frozen=True)
class ReceiverReports:
    sender_ssrc: int
    blocks: tuple[ReportBlock, ...]


Feedback = Nack | Pli | Fir | Remb | SenderReport | ReceiverReports


def split(data: bytes) -> list[tuple[int, int, bytes]] | None:
    """A compound packet as (packet type, count/fmt, body after the 4-byte header); None if bad."""
    packets = []
    pos = 0
    while pos + 4 <= len(data):
        first, ptype, words = struct.unpack_from("!BBH", data, pos)
        end = pos + 4 + 4 * words
        if first >> 6 != 2 or end > len(data):
            return None
        packets.append((ptype, first & 0x1F, data[pos + 4 : end]))
        pos = end
    return packets if pos == len(data) and packets else None


def parse(data: bytes) -> list[Feedback] | None:
    """The feedback items of a compound RTCP packet; None if the packet is malformed."""
    packets = split(data)
    if packets is None:
        return None
    found: list[Feedback] = []
    for ptype, count, body in packets:
        item = _parse_one(ptype, count, body)
        if item is not None:
            found.append(item)
        if ptype in (SR, RR):
            blocks = _report_blocks(ptype, count, body)
            if blocks is not None:
                found.append(blocks)
    return found


def _parse_one(ptype: int, fmt: int, body: bytes) -> Feedback | None:
    if ptype == SR and len(body) >= 24:
        ssrc, hi, lo, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", body)
        return SenderReport(ssrc, (hi << 32) | lo, rtp_ts, packets, octets)
    if len(body) < 8 or ptype not in (RTPFB, PSFB):
        return None
    media_ssrc = struct.unpack_from("!I", body, 4)[0]
    fci = body[8:]
    if ptype == RTPFB and fmt == FMT_NACK:
        return Nack(media_ssrc, _nack_seqs(fci))
    if ptype == PSFB and fmt == FMT_PLI:
        return Pli(media_ssrc)
    if ptype == PSFB and fmt == FMT_FIR:
        return Fir(tuple(struct.unpack_from("!I", fci, i)[0] for i in range(0, len(fci) - 7, 8)))
    if ptype == PSFB and fmt == FMT_REMB:
        return _parse_remb(fci)
    return None


def _nack_seqs(fci: bytes) -> tuple[int, ...]:
    seqs: list[int] = []
    for pos in range(0, len(fci) - 3, 4):
        pid, blp = struct.unpack_from("!HH", fci, pos)
        seqs.append(pid)
        seqs.extend((pid + bit + 1) & 0xFFFF for bit in range(16) if blp >> bit & 1)
    return tuple(seqs)


def _parse_remb(fci: bytes) -> Remb | None:
    if len(fci) < 8 or fci[:4] != b"REMB":
        return None
    count = fci[4]
    exponent, mantissa = fci[5] >> 2, ((fci[5] & 3) << 16) | (fci[6] << 8) | fci[7]
    ssrcs = tuple(
        struct.unpack_from("!I", fci, 8 + 4 * i)[0] for i in range(count) if 12 + 4 * i <= len(fci)
    )
    return Remb(mantissa << exponent, ssrcs)


def _report_blocks(ptype: int, count: int, body: bytes) -> ReceiverReports | None:
    start = 24 if ptype == SR else 4
    if len(body) < start + 24 * count or len(body) < 4:
        return None
    blocks = []
    for i in range(count):
        ssrc, lost_word, highest, jitter, lsr, dlsr = struct.unpack_from(
            "!IIIIII", body, start + 24 * i
        )
        lost = lost_word & 0xFFFFFF
        blocks.append(ReportBlock(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr))
    return ReceiverReports(struct.unpack_from("!I", body)[0], tuple(blocks))


def _header(ptype: int, count: int, body: bytes) -> bytes:
    return struct.pack("!BBH", 0x80 | count, ptype, len(body) // 4) + body


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    return _header(PSFB, FMT_PLI, struct.pack("!II", sender_ssrc, media_ssrc))


def fir(sender_ssrc: int, media_ssrc: int, seqnr: int) -> bytes:
    body = struct.pack("!IIIB3x", sender_ssrc, 0, media_ssrc, seqnr & 0xFF)
    return _header(PSFB, FMT_FIR, body)


def nack(sender_ssrc: int, media_ssrc: int, seqs: list[int]) -> bytes:
    """Generic NACK for the given sequence numbers (grouped into pid + bitmask items)."""
    items = b""
    ordered = sorted(set(seqs), key=lambda s: (s - seqs[0]) & 0xFFFF)
    while ordered:
        pid = ordered.pop(0)
        blp = 0
        while ordered and 0 < (ordered[0] - pid) & 0xFFFF <= 16:
            blp |= 1 << (((ordered.pop(0) - pid) & 0xFFFF) - 1)
        items += struct.pack("!HH", pid, blp)
    return _header(RTPFB, FMT_NACK, struct.pack("!II", sender_ssrc, media_ssrc) + items)


def remb(sender_ssrc: int, bitrate: int, ssrcs: list[int]) -> bytes:
    exponent = 0
    while bitrate >> exponent > 0x3FFFF:
        exponent += 1
    mantissa = bitrate >> exponent
    fci = b"REMB" + bytes((len(ssrcs), exponent << 2 | mantissa >> 16))
    fci += struct.pack("!H", mantissa & 0xFFFF) + b"".join(struct.pack("!I", s) for s in ssrcs)
    return _header(PSFB, FMT_REMB, struct.pack("!II", sender_ssrc, 0) + fci)


def receiver_report(sender_ssrc: int, blocks: list[ReportBlock]) -> bytes:
    body = struct.pack("!I", sender_ssrc)
    for b in blocks[:31]:
        lost = max(-0x800000, min(0x7FFFFF, b.lost)) & 0xFFFFFF
        body += struct.pack(
            "!IIIIII", b.ssrc, b.fraction_lost << 24 | lost, b.highest_seq, b.jitter, b.lsr, b.dlsr
        )
    return _header(RR, min(len(blocks), 31), body)


def sender_report(ssrc: int, ntp: int, rtp_ts: int, packets: int, octets: int) -> bytes:
    body = struct.pack("!IIIIII", ssrc, ntp >> 32, ntp & 0xFFFFFFFF, rtp_ts, packets, octets)
    return _header(SR, 0, body)
