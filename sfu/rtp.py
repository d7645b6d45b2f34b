"""RTP header reading and byte rewriting. Nothing here builds packet objects: the forwarding
path reads a few fields with struct and rewrites bytes in place. Every function returns None or
an empty result on malformed input, never raises.
"""

from __future__ import annotations

import logging
import struct

logger = logging.getLogger(__name__)

_FIXED = struct.Struct("!BBHII")
_EXT = struct.Struct("!HH")
ONE_BYTE_PROFILE = 0xBEDE


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 demultiplexing: RTCP packet types 192..223 sit where RTP has marker+PT."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def header_length(data: bytes | bytearray | memoryview, length: int) -> int:
    """Length of the RTP header (fixed, CSRCs, extension); 0 if it is not a valid RTP packet."""
    if length < 12 or data[0] >> 6 != 2:
        return 0
    size = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if size + 4 > length:
            return 0
        words = (data[size + 2] << 8) | data[size + 3]
        size += 4 + 4 * words
    # padding must leave the header intact
    if data[0] & 0x20 and length > size and not 0 < data[length - 1] <= length - size:
        return 0
    return size if size <= length else 0


def extensions(data: bytes) -> list[tuple[int, int, int]]:
    """Header extension elements as (id, value offset, value length); [] when none or broken."""
    if len(data) < 12 or not data[0] & 0x10:
        return []
    start = 12 + 4 * (data[0] & 0x0F)
    if start + 4 > len(data):
        return []
    profile, words = _EXT.unpack_from(data, start)
    end = start + 4 + 4 * words
    if end > len(data):
        return []
    if profile == ONE_BYTE_PROFILE:
        return _one_byte_elements(data, start + 4, end)
    if profile >> 4 == 0x100:
        return _two_byte_elements(data, start + 4, end)
    return []


def _one_byte_elements(data: bytes, pos: int, end: int) -> list[tuple[int, int, int]]:
    found = []
    while pos < end:
        ext_id, size = data[pos] >> 4, (data[pos] & 0x0F) + 1
        if ext_id == 0:
            pos += 1
            continue
        if ext_id == 15 or pos + 1 + size > end:
            break
        found.append((ext_id, pos + 1, size))
        pos += 1 + size
    return found


def _two_byte_elements(data: bytes, pos: int, end: int) -> list[tuple[int, int, int]]:
    found = []
    while pos < end:
        ext_id = data[pos]
        if ext_id == 0:
            pos += 1
            continue
        if pos + 2 > end or pos + 2 + data[pos + 1] > end:
            break
        found.append((ext_id, pos + 2, data[pos + 1]))
        pos += 2 + data[pos + 1]
    return found


def extension_value(data: bytes, ext_id: int) -> bytes | None:
    """The value of one header extension element, if present."""
    for found_id, offset, size in extensions(data):
        if found_id == ext_id:
            return data[offset : offset + size]
    return None


def rewrite_extensions(data: bytes, id_map: dict[int, int]) -> bytes:
    """A copy with extension ids mapped by ``id_map``; elements not in the map are dropped.

    Used only where the publisher's and subscriber's ids differ; the common case passes bytes
    through untouched.
    """
    elements = extensions(data)
    start = 12 + 4 * (data[0] & 0x0F)
    if not elements:
        return data
    words = _EXT.unpack_from(data, start)[1]
    end = start + 4 + 4 * words
    kept = [(id_map[i], data[o : o + n]) for i, o, n in elements if i in id_map]
    two_byte = any(i > 14 or len(v) > 16 or not v for i, v in kept)
    body = b"".join(
        (bytes((i, len(v))) if two_byte else bytes((i << 4 | (len(v) - 1),))) + v for i, v in kept
    )
    body += b"\x00" * (-len(body) % 4)
    if not body:
        return bytes((data[0] & ~0x10,)) + data[1:start] + data[end:]
    profile = 0x1000 if two_byte else ONE_BYTE_PROFILE
    return data[:start] + _EXT.pack(profile, len(body) // 4) + body + data[end:]


def write_abs_send_time(packet: bytearray, offset: int, now: float) -> None:
    """abs-send-time (6.18 fixed point seconds, 24 bits) at ``offset``."""
    value = int(now * (1 << 18)) & 0xFFFFFF
    packet[offset : offset + 3] = value.to_bytes(3, "big")


def vp8_keyframe(payload: bytes) -> bool:
    """True if this VP8 RTP payload starts a key frame (RFC 7741)."""
    if not payload:
        return False
    pos = 1
    if payload[0] & 0x80:
        if len(payload) < 2:
            return False
        x = payload[1]
        pos = 2
        if x & 0x80:
            if len(payload) < 3:
                return False
            pos += 2 if payload[2] & 0x80 else 1
        pos += 1 if x & 0x40 else 0
        pos += 1 if x & 0x30 else 0
    starts = payload[0] & 0x10 and (payload[0] & 0x07) == 0
    return bool(starts) and len(payload) > pos and not payload[pos] & 0x01


Vp8Fields = tuple[bool, int, bool, int, int, int]


def vp8_fields(packet: bytes | bytearray) -> Vp8Fields | None:
    """Where a VP8 RTP packet's payload descriptor (RFC 7741 §4.2) keeps its picture id and
    TL0PICIDX: (has picture id, picture id, 15-bit, TL0PICIDX or -1, id offset, TL0 offset);
    None if the descriptor is cut short or absent."""
    n = len(packet)
    pos = header_length(packet, n)
    if not pos or pos >= n or not packet[pos] & 0x80:
        return None
    if pos + 1 >= n:
        return None
    x = packet[pos + 1]
    pos += 2
    has_pid, pid, wide, pid_pos = False, 0, False, 0
    if x & 0x80:
        if pos >= n:
            return None
        has_pid, pid_pos = True, pos
        if packet[pos] & 0x80:
            if pos + 1 >= n:
                return None
            wide, pid = True, ((packet[pos] & 0x7F) << 8) | packet[pos + 1]
            pos += 2
        else:
            pid = packet[pos] & 0x7F
            pos += 1
    tl0 = tl0_pos = -1
    if x & 0x40:
        if pos >= n:
            return None
        tl0, tl0_pos = packet[pos], pos
    return has_pid, pid, wide, tl0, pid_pos, tl0_pos


def write_vp8_fields(out: bytearray, fields: Vp8Fields, pid_offset: int, tl0_offset: int) -> None:
    """Rewrite picture id and TL0PICIDX (located by :func:`vp8_fields`) by the given offsets."""
    has_pid, pid, wide, tl0, pid_pos, tl0_pos = fields
    if has_pid:
        if wide:
            value = (pid + pid_offset) & 0x7FFF
            out[pid_pos] = 0x80 | (value >> 8)
            out[pid_pos + 1] = value & 0xFF
        else:
            out[pid_pos] = (pid + pid_offset) & 0x7F
    if tl0 >= 0:
        out[tl0_pos] = (tl0 + tl0_offset) & 0xFF


def h264_keyframe(payload: bytes) -> bool:
    """True if this H.264 RTP payload carries an IDR or SPS NAL unit (RFC 6184)."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:  # STAP-A
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if payload[pos + 2] & 0x1F in (5, 7):
                return True
            pos += 2 + size
        return False
    if nal == 28 and len(payload) > 1:  # FU-A start
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in (5, 7)
    return False


def seq_newer(a: int, b: int) -> bool:
    """True if 16-bit sequence number ``a`` comes after ``b``."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000
