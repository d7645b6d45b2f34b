"""Decoding what the compositor shows: RTP bytes → jitter buffer → depacketizer → PyAV.

An :class:`RtpTrack` is one stream the compositor subscribed to. Video that is not shown is
not decoded at all (its frames are dropped after the jitter buffer); when it is shown again the
track waits for a keyframe and asks for one (the SFU turns that into a PLI). A
:class:`DecodeThread` keeps decoding off the event loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import av
from av.audio.codeccontext import AudioCodecContext
from av.video.codeccontext import VideoCodecContext

from broadcast.depay import Codec, DepayError, EncodedFrame, depayload
from broadcast.rtp import JitterBuffer, PacketRun, RtpError, parse_rtp
from broadcast.stage import SourceKey, StageBuffer

logger = logging.getLogger(__name__)

Frame = av.VideoFrame | av.AudioFrame
KEYFRAME_REQUEST_INTERVAL = 1.0
OPUS_CLOCK = 48000


class FrameDecoder:
    """A PyAV decoder for one stream; undecodable data is counted, never raised."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        context = av.CodecContext.create(codec, "r")
        assert isinstance(context, VideoCodecContext | AudioCodecContext)
        self._context = context
        self.errors = 0

    def decode(self, frame: EncodedFrame) -> list[Frame]:
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        try:
            return list(self._context.decode(packet))
        except (av.error.FFmpegError, ValueError):
            self.errors += 1
            return []


def _never() -> None:
    return None


def _always() -> bool:
    return True


class RtpTrack:
    """One received RTP stream decoded into frames for ``on_frame`` (only while ``wanted``)."""

    def __init__(
        self,
        codec: Codec,
        on_frame: Callable[[Frame], None],
        wanted: Callable[[], bool] = _always,
        request_keyframe: Callable[[], None] = _never,
        payload_type: int | None = None,
    ) -> None:
        self.codec = codec
        self.is_video = codec != "opus"
        self._on_frame = on_frame
        self._wanted = wanted
        self._request_keyframe = request_keyframe
        self._payload_type = payload_type
        self._decoder = FrameDecoder(codec)
        self._jitter = JitterBuffer(per_packet=not self.is_video)
        self._ssrc: int | None = None
        self._need_key = self.is_video
        self._last_request = -KEYFRAME_REQUEST_INTERVAL
        self.malformed = 0
        self.decoded = 0

    def feed(self, data: bytes) -> None:
        """One decrypted RTP packet (any bytes are safe)."""
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.malformed += 1
            return
        if self._payload_type is not None and packet.payload_type != self._payload_type:
            return
        if packet.ssrc != self._ssrc:  # a new sender on this slot: fresh state
            self._ssrc = packet.ssrc
            self._jitter = JitterBuffer(per_packet=not self.is_video)
            self._need_key = self.is_video
        for run in self._jitter.add(packet):
            self._on_run(run)

    def _on_run(self, run: PacketRun) -> None:
        if self.is_video and (run.after_loss or not self._wanted()):
            self._need_key = True  # the decoder's reference frames are gone or stale
        if not self._wanted():
            return
        try:
            encoded = depayload(self.codec, run)
        except DepayError:
            self.malformed += 1
            self._need_key = self.is_video
            return
        if self._need_key and not encoded.keyframe:
            self._ask_keyframe()
            return
        self._need_key = False
        for frame in self._decoder.decode(encoded):
            self.decoded += 1
            self._on_frame(frame)

    def _ask_keyframe(self) -> None:
        now = time.monotonic()
        if now - self._last_request >= KEYFRAME_REQUEST_INTERVAL:
            self._last_request = now
            self._request_keyframe()

    @property
    def decode_errors(self) -> int:
        return self._decoder.errors


def video_track(
    stage: StageBuffer, key: SourceKey, codec: Codec, request_keyframe: Callable[[], None]
) -> RtpTrack:
    """A video stream that feeds ``stage`` and is decoded only while the compositor shows it."""
    return RtpTrack(
        codec,
        lambda frame: stage.push_video(key, frame),  # type: ignore[arg-type]
        wanted=lambda: stage.wanted(key),
        request_keyframe=request_keyframe,
    )


def audio_track(stage: StageBuffer, participant_id: str, codec: Codec = "opus") -> RtpTrack:
    """An audio stream into the mixer (always decoded: Opus is cheap and levels matter)."""

    def push(frame: Frame) -> None:
        assert isinstance(frame, av.AudioFrame)
        ts = frame.pts / OPUS_CLOCK if frame.pts is not None else None  # Opus RTP clock: 48 kHz
        stage.push_audio(participant_id, frame, ts)

    return RtpTrack(codec, push)


class DecodeThread:
    """Runs :meth:`RtpTrack.feed` off the event loop; a full queue drops packets (counted)."""

    def __init__(self, max_packets: int = 2000) -> None:
        self._queue: queue.Queue[tuple[RtpTrack, bytes] | None] = queue.Queue(max_packets)
        self._thread = threading.Thread(target=self._run, name="broadcast-decode", daemon=True)
        self._thread.start()
        self._closed = False
        self.dropped = 0

    def submit(self, track: RtpTrack, packet: bytes) -> None:
        """Never blocks: the SFU's packet path must not wait for a decoder."""
        try:
            self._queue.put_nowait((track, packet))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            track, packet = item
            try:
                track.feed(packet)
            except Exception:
                logger.exception("decoding a packet failed")

    def close(self) -> None:
        """Finish queued packets and stop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
