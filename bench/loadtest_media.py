"""Synthetic media for `urok loadtest` (bench/loadtest.py): no encoder anywhere.

A stream's frames are made of fixed bytes (a valid VP8 payload descriptor with picture ID and
TL0PICIDX, a VP8 frame tag marking key frames, then a constant body; or an Opus-sized audio
payload), built and SRTP-protected one frame ahead of its send time, so sending is one
``sendto`` per packet. Every packet carries the one-byte header extensions a browser sends:
mid, rid (simulcast layers), ssrc-audio-level (audio) and abs-send-time, stamped with the
packet's scheduled send time. The receive side reads only the clear-text RTP header.
"""

from __future__ import annotations

import math
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

MAX_PAYLOAD = 1100  # bytes of media per packet (the rest of a ~1,200-byte MTU is headers)
KEYFRAME_INTERVAL_S = 2.0
KEYFRAME_FACTOR = 3  # a key frame is this many average frames; deltas shrink to keep the rate
KEYFRAME_ON_PLI_S = 0.5  # at most one key frame per this many seconds in answer to PLI/FIR
MAX_LAG_S = 0.5  # a stream this far behind its schedule skips frames (the generator is slow)
LOUD_LEVEL = 20  # -dBov stamped by speakers (RFC 6464); the SFU counts > -70 dBov as speaking
SILENT_LEVEL = 127  # -127 dBov: digital silence
VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000


@dataclass(frozen=True)
class Layer:
    """One encoding a publisher sends: its rid (or a name), kind, bit rate and frame rate."""

    name: str
    kind: str  # "audio" | "video"
    bitrate: int  # bit/s of payload
    fps: float


LOW = Layer("l", "video", 150_000, 15)
MEDIUM = Layer("m", "video", 500_000, 30)
HIGH = Layer("h", "video", 1_500_000, 30)
SIMULCAST = (LOW, MEDIUM, HIGH)  # low to high, as in a=simulcast:send l;m;h
SINGLE = Layer("single", "video", 1_500_000, 30)  # a camera without simulcast: its full stream
SCREEN = Layer("screen", "video", 1_000_000, 10)
AUDIO = Layer("audio", "audio", 40_000, 50)  # 100-byte Opus-sized packets every 20 ms

BODY = random.Random(20261122).randbytes(MAX_PAYLOAD)
AUDIO_PAYLOAD = b"\xf8" + BODY[: AUDIO.bitrate // 8 // int(AUDIO.fps) - 1]  # TOC: CELT FB 20 ms


def frame_bytes(layer: Layer, key: bool) -> int:
    """Bytes of one frame: key frames are KEYFRAME_FACTOR average frames, deltas make up the
    rest so that the layer's average bit rate holds."""
    average = layer.bitrate / 8 / layer.fps
    frames = layer.fps * KEYFRAME_INTERVAL_S
    if key:
        return int(average * KEYFRAME_FACTOR)
    return max(1, int(average * (frames - KEYFRAME_FACTOR) / (frames - 1)))


def packets_per_frame(layer: Layer, key: bool) -> int:
    if layer.kind == "audio":
        return 1
    return math.ceil(frame_bytes(layer, key) / MAX_PAYLOAD)


def layer_pps(layer: Layer) -> float:
    """Packets per second one stream of this layer sends (the model behind the projections)."""
    if layer.kind == "audio":
        return layer.fps
    frames = layer.fps * KEYFRAME_INTERVAL_S
    per_interval = packets_per_frame(layer, True) + (frames - 1) * packets_per_frame(layer, False)
    return per_interval / frames * layer.fps


def abs_send_time(t: float) -> bytes:
    """abs-send-time: 6.18 fixed-point seconds, 24 bits (wraps every 64 s)."""
    return (int(t * (1 << 18)) & 0xFFFFFF).to_bytes(3, "big")


def abs_age(stamp: int, now: float) -> float:
    """Seconds from an abs-send-time stamp (24-bit integer) to ``now`` (same clock)."""
    return ((int(now * (1 << 18)) - stamp) & 0xFFFFFF) / (1 << 18)


def rtp_header(
    pt: int, seq: int, ts: int, ssrc: int, marker: bool, exts: list[tuple[int, bytes]]
) -> bytes:
    """An RTP header with a one-byte header extension block (RFC 8285)."""
    block = b"".join(bytes(((i << 4) | (len(v) - 1),)) + v for i, v in exts)
    block += b"\x00" * (-len(block) % 4)
    first = struct.pack("!BBHII", 0x90, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    return first + struct.pack("!HH", 0xBEDE, len(block) // 4) + block


def vp8_descriptor(start: bool, picture_id: int, tl0picidx: int) -> bytes:
    """RFC 7741 payload descriptor: X=1, S on a frame's first packet, PID=0; I, L, T present;
    15-bit picture ID (M=1); TL0PICIDX; TID=0, Y=1, KEYIDX=0."""
    return bytes(
        (
            0x90 if start else 0x80,
            0xE0,
            0x80 | (picture_id >> 8) & 0x7F,
            picture_id & 0xFF,
            tl0picidx & 0xFF,
            0x20,
        )
    )


def vp8_frame_tag(key: bool, width: int = 320, height: int = 180) -> bytes:
    """The VP8 payload header (RFC 7741 section 4.3): the frame tag (bit 0 = 0 on a key frame,
    show_frame = 1) and, for a key frame, the start code and dimensions."""
    tag = (0x40 << 5) | (1 << 4) | (0 if key else 1)
    head = tag.to_bytes(3, "little")
    return head + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) if key else head


@dataclass(frozen=True)
class Extensions:
    """The header extension ids the SFU's answer accepted for one sending m-section (0: none)."""

    mid: int
    rid: int
    level: int
    abs_send_time: int


class OutStream:
    """One SSRC a publisher sends. ``ready`` holds the next frame's packets, already protected;
    ``advance`` moves to the following frame and builds it."""

    def __init__(
        self,
        layer: Layer,
        ssrc: int,
        pt: int,
        mid: str,
        rid: str | None,
        exts: Extensions,
        protect: Callable[[bytes], bytes],
        send: Callable[[bytes], None],
        start: float,
        loud: bool = False,
    ) -> None:
        self.layer = layer
        self.ssrc = ssrc
        self.pt = pt
        self.protect = protect
        self.send = send
        self.loud = loud
        self.source = ""  # mic / camera / screen, for dynacast
        self.paused = False  # dynacast: nobody receives this layer (frames pass unsent)
        self._exts: list[tuple[int, bytes]] = []
        if exts.mid:
            self._exts.append((exts.mid, mid.encode()))
        if exts.rid and rid is not None:
            self._exts.append((exts.rid, rid.encode()))
        self._level_id = exts.level if layer.kind == "audio" else 0
        self._abs_id = exts.abs_send_time
        rng = random.Random()
        self.seq = rng.randrange(1 << 16)
        self.ts = rng.randrange(1 << 32)
        self.picture_id = rng.randrange(1 << 15)
        self.tl0picidx = rng.randrange(1 << 8)
        self.due = start
        self._next_key = start
        self._last_key = -math.inf
        self.key_wanted = False
        self.sent = 0
        self.keyframes = 0
        self.skipped_frames = 0
        self.ready: list[bytes] = []
        self.build()

    def advance(self, build: bool = True) -> None:
        """The frame in ``ready`` went out: move on and build the next one. Without ``build``
        (a paused layer, a frame skipped) nothing is built, so no sequence number is used."""
        self.due += 1.0 / self.layer.fps
        clock = AUDIO_CLOCK if self.layer.kind == "audio" else VIDEO_CLOCK
        self.ts = (self.ts + int(clock / self.layer.fps)) & 0xFFFFFFFF
        self.picture_id = (self.picture_id + 1) & 0x7FFF
        self.tl0picidx = (self.tl0picidx + 1) & 0xFF
        self.ready = []
        if build:
            self.build()

    def build(self) -> None:
        exts = list(self._exts)
        if self._level_id:
            exts.append(
                (self._level_id, bytes((0x80 | LOUD_LEVEL if self.loud else SILENT_LEVEL,)))
            )
        if self._abs_id:
            exts.append((self._abs_id, abs_send_time(self.due)))
        payloads = [AUDIO_PAYLOAD] if self.layer.kind == "audio" else self._frame_payloads()
        last = len(payloads) - 1
        packets = []
        for i, payload in enumerate(payloads):
            header = rtp_header(self.pt, self.seq, self.ts, self.ssrc, i == last, exts)
            packets.append(self.protect(header + payload))
            self.seq = (self.seq + 1) & 0xFFFF
        self.ready = packets

    def _frame_payloads(self) -> list[bytes]:
        key = self.due >= self._next_key - 1e-3 or (
            self.key_wanted and self.due - self._last_key >= KEYFRAME_ON_PLI_S
        )
        if key:
            self._next_key = self.due + KEYFRAME_INTERVAL_S
            self._last_key = self.due
            self.key_wanted = False
            self.keyframes += 1
        size = frame_bytes(self.layer, key)
        count = math.ceil(size / MAX_PAYLOAD)
        chunk = min(MAX_PAYLOAD - 16, size // count)
        payloads = []
        for i in range(count):
            head = vp8_descriptor(i == 0, self.picture_id, self.tl0picidx)
            if i == 0:
                head += vp8_frame_tag(key)
            payloads.append(head + BODY[:chunk])
        return payloads


class Sender:
    """Sends every stream's packets at their frame times from one task (10 ms ticks)."""

    TICK_S = 0.01

    def __init__(self) -> None:
        self.streams: list[OutStream] = []
        self.paused = False  # the end of a run: nothing more is sent
        self.lags: list[float] = []  # how late each tick's first due frame went out (s)
        self.packets_sent = 0

    def add(self, stream: OutStream) -> None:
        self.streams.append(stream)

    def tick(self, now: float) -> None:
        if self.paused:
            return
        late = 0.0
        for stream in self.streams:
            while stream.due <= now:
                if stream.paused:
                    stream.advance(build=False)
                    continue
                if now - stream.due > MAX_LAG_S:
                    stream.skipped_frames += 1
                    stream.advance(build=False)
                    continue
                if not stream.ready:
                    stream.build()
                late = max(late, now - stream.due)
                for packet in stream.ready:
                    stream.send(packet)
                stream.sent += len(stream.ready)
                self.packets_sent += len(stream.ready)
                stream.advance()
        self.lags.append(late)

    def skipped(self) -> int:
        return sum(s.skipped_frames for s in self.streams)

    def next_due(self) -> float:
        return min((s.due for s in self.streams), default=time.monotonic() + self.TICK_S)


def rtp_payload(packet: bytes) -> bytes | None:
    """The payload of a decrypted RTP packet (after CSRCs and the header extension block)."""
    if len(packet) < 12:
        return None
    start = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if len(packet) < start + 4:
            return None
        start += 4 + 4 * struct.unpack_from("!H", packet, start + 2)[0]
    end = len(packet) - (packet[-1] if packet[0] & 0x20 else 0)
    return packet[start:end] if start <= end else None


def vp8_body(payload: bytes) -> bytes | None:
    """What follows the VP8 payload descriptor and (on a frame's first packet) the frame tag;
    None if the descriptor is malformed."""
    if not payload:
        return None
    pos = 1
    if payload[0] & 0x80:
        if len(payload) < 2:
            return None
        ext, pos = payload[1], 2
        if ext & 0x80:
            pos += 2 if len(payload) > pos and payload[pos] & 0x80 else 1
        pos += 1 if ext & 0x40 else 0
        pos += 1 if ext & 0x30 else 0
    if len(payload) < pos:
        return None
    if payload[0] & 0x10 and payload[0] & 0x07 == 0:  # S=1, PID=0: the frame tag follows
        if len(payload) < pos + 3:
            return None
        pos += 10 if payload[pos] & 0x01 == 0 else 3
    return payload[pos:]


def carries_our_media(packet: bytes) -> bool:
    """A decrypted packet is one of ours: an audio payload, or VP8 with our body."""
    payload = rtp_payload(packet)
    if payload is None:
        return False
    if payload == AUDIO_PAYLOAD:
        return True
    body = vp8_body(payload)
    return body is not None and len(body) > 0 and body == BODY[: len(body)]
