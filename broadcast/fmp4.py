"""Split a fragmented-MP4 byte stream into an init segment and fragments.

FFmpeg's mp4 muxer (movflags frag_keyframe+empty_moov+default_base_moof) writes ``ftyp moov``
then ``moof mdat`` pairs. We read just enough of each moof to know where a fragment sits in time
(the video track's ``tfdt``) so the HLS writer can group fragments into segments and parts.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_HEADER = struct.Struct(">I4s")


class Fmp4Error(ValueError):
    """The byte stream is not the fragmented MP4 we expect."""


@dataclass(frozen=True)
class Box:
    """One ISO-BMFF box: its four-character type and its whole bytes (header included)."""

    type: bytes
    data: bytes

    @property
    def payload(self) -> bytes:
        return self.data[_box_header_len(self.data) :]


@dataclass(frozen=True)
class Fragment:
    """A ``moof``+``mdat`` pair with, per track id, its tfdt (track timescale) and sample count."""

    data: bytes
    decode_times: dict[int, int]
    sample_counts: dict[int, int]


def _box_header_len(data: bytes) -> int:
    size = _HEADER.unpack_from(data, 0)[0]
    return 16 if size == 1 else 8


def _box_size(buf: bytes | bytearray, offset: int) -> int | None:
    """Size of the box starting at ``offset`` or None if its header is not complete yet."""
    if len(buf) - offset < 8:
        return None
    size, _ = _HEADER.unpack_from(buf, offset)
    if size == 1:
        if len(buf) - offset < 16:
            return None
        size = struct.unpack_from(">Q", buf, offset + 8)[0]
    if size < 8:
        raise Fmp4Error(f"bad box size {size} at {offset}")
    return int(size)


def iter_boxes(data: bytes) -> Iterator[Box]:
    """Top-level boxes of a complete buffer."""
    offset = 0
    while offset < len(data):
        size = _box_size(data, offset)
        if size is None or offset + size > len(data):
            raise Fmp4Error("truncated box")
        yield Box(bytes(data[offset + 4 : offset + 8]), bytes(data[offset : offset + size]))
        offset += size


def _child(box_payload: bytes, name: bytes) -> Iterator[Box]:
    return (b for b in iter_boxes(box_payload) if b.type == name)


def _traf_info(traf: Box) -> tuple[int, int, int] | None:
    """(track id, base media decode time, sample count) of one traf."""
    track_id: int | None = None
    decode_time: int | None = None
    samples = 0
    for child in iter_boxes(traf.payload):
        body = child.payload
        if child.type == b"tfhd":
            track_id = struct.unpack_from(">I", body, 4)[0]
        elif child.type == b"tfdt":
            fmt = ">Q" if body[0] == 1 else ">I"
            decode_time = struct.unpack_from(fmt, body, 4)[0]
        elif child.type == b"trun":
            samples += struct.unpack_from(">I", body, 4)[0]
    if track_id is None or decode_time is None:
        return None
    return track_id, decode_time, samples


def parse_moof(moof: Box) -> tuple[dict[int, int], dict[int, int]]:
    """Per track id: base media decode time, and number of samples, of a moof."""
    times: dict[int, int] = {}
    counts: dict[int, int] = {}
    for traf in _child(moof.payload, b"traf"):
        parsed = _traf_info(traf)
        if parsed is not None:
            times[parsed[0]] = parsed[1]
            counts[parsed[0]] = parsed[2]
    return times, counts


class Fmp4Splitter:
    """Incremental: ``feed`` bytes as the muxer writes them, get the init and whole fragments."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._init: list[Box] = []
        self._moof: Box | None = None
        self.init_segment: bytes | None = None

    def feed(self, data: bytes) -> list[Fragment]:
        self._buf += data
        fragments: list[Fragment] = []
        for box in self._take_boxes():
            fragment = self._on_box(box)
            if fragment is not None:
                fragments.append(fragment)
        return fragments

    def _take_boxes(self) -> Iterator[Box]:
        offset = 0
        while True:
            size = _box_size(self._buf, offset)
            if size is None or offset + size > len(self._buf):
                break
            data = bytes(self._buf[offset : offset + size])
            yield Box(data[4:8], data)
            offset += size
        del self._buf[:offset]

    def _on_box(self, box: Box) -> Fragment | None:
        if box.type in (b"ftyp", b"moov"):
            self._init.append(box)
            if box.type == b"moov":
                self.init_segment = b"".join(b.data for b in self._init)
            return None
        if box.type == b"moof":
            self._moof = box
            return None
        if box.type == b"mdat" and self._moof is not None:
            moof, self._moof = self._moof, None
            times, counts = parse_moof(moof)
            return Fragment(moof.data + box.data, times, counts)
        return None  # mfra, free, sidx: not needed for HLS
