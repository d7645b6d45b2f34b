"""Depacketizers: RTP payloads of one frame → one encoded frame (VP8, H.264, Opus).

This is the only module of broadcast/ that uses aiortc, and only its codec payload-descriptor
parsers (``aiortc.codecs.vpx`` / ``aiortc.codecs.h264``), pinned with aiortc in pyproject.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.codecs.vpx import VpxPayloadDescriptor

from broadcast.rtp import PacketRun

logger = logging.getLogger(__name__)

Codec = Literal["vp8", "h264", "opus"]
CODECS: tuple[Codec, ...] = ("vp8", "h264", "opus")
_IDR, _SPS = 5, 7


class DepayError(ValueError):
    """A payload that the codec's RTP format does not allow."""


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded frame ready for a decoder; ``keyframe`` if decoding can start here."""

    codec: Codec
    data: bytes
    timestamp: int
    keyframe: bool


def depayload(codec: Codec, run: PacketRun) -> EncodedFrame:
    """Join a frame's payloads; raises :class:`DepayError` on malformed payloads."""
    if codec == "opus":
        data = b"".join(p.payload for p in run.packets)
        return EncodedFrame(codec, data, run.timestamp, True)
    if codec == "vp8":
        return _vp8(run)
    return _h264(run)


def _vp8(run: PacketRun) -> EncodedFrame:
    chunks: list[bytes] = []
    starts_frame = False
    for i, packet in enumerate(run.packets):
        try:
            descriptor, data = VpxPayloadDescriptor.parse(packet.payload)
        except ValueError as exc:
            raise DepayError(str(exc)) from None
        if i == 0:
            starts_frame = bool(descriptor.partition_start) and descriptor.partition_id == 0
        chunks.append(data)
    frame = b"".join(chunks)
    if not starts_frame or not frame:
        raise DepayError("VP8 frame does not start with partition 0")
    keyframe = frame[0] & 0x01 == 0  # the P bit of the VP8 frame tag: 0 is a key frame
    return EncodedFrame("vp8", frame, run.timestamp, keyframe)


def _h264(run: PacketRun) -> EncodedFrame:
    chunks: list[bytes] = []
    for packet in run.packets:
        try:
            _, data = H264PayloadDescriptor.parse(packet.payload)
        except (ValueError, IndexError) as exc:
            raise DepayError(str(exc)) from None
        chunks.append(data)
    frame = b"".join(chunks)
    if not frame.startswith(b"\x00\x00\x00\x01"):
        raise DepayError("H.264 frame does not start with a NAL unit")
    return EncodedFrame("h264", frame, run.timestamp, _has_idr(frame))


def _has_idr(annexb: bytes) -> bool:
    nals = annexb.split(b"\x00\x00\x00\x01")[1:]
    return any(nal and nal[0] & 0x1F in (_IDR, _SPS) for nal in nals)
