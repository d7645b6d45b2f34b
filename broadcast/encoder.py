"""One rendition's encode: libx264 + AAC with PyAV, muxed as fragmented MP4 in memory.

The GOP is fixed (a keyframe every segment, no scene-cut keyframes), so every segment starts on
a keyframe; the muxer also cuts a fragment every ``part_duration`` — those fragments are the
LL-HLS parts. Frames must arrive at a constant rate (the pipeline repeats frames when a source
stalls), which is what makes frame index == time.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from broadcast.fmp4 import Fmp4Splitter, Fragment

logger = logging.getLogger(__name__)

VIDEO_TRACK = 1
AUDIO_TRACK = 2
SAMPLE_RATE = 48000


@dataclass(frozen=True)
class RenditionSpec:
    """An output rendition: name (a path component), size and bitrates."""

    name: str = "720p"
    width: int = 1280
    height: int = 720
    video_kbps: int = 2500
    audio_kbps: int = 128
    cbr: bool = False  # pad to a constant bitrate (x264 nal-hrd=cbr), e.g. for load tests

    @property
    def bandwidth(self) -> int:
        # Peak declared a bit above the average: x264 with VBV max = 1.2 x average.
        return int((self.video_kbps * 1.2 + self.audio_kbps) * 1000)


@dataclass(frozen=True)
class Chunk:
    """A muxed fragment placed in time by its video samples (seconds, frame count)."""

    data: bytes
    start: float
    frames: int


InitCallback = Callable[[bytes, str], None]
ChunkCallback = Callable[[Chunk], None]


class _Sink(io.RawIOBase):
    """The muxer's output file: bytes go straight to the splitter, nothing accumulates."""

    def __init__(self, on_bytes: Callable[[bytes], None]) -> None:
        super().__init__()
        self._on_bytes = on_bytes

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._on_bytes(bytes(data))
        return len(data)


def codecs_from_init(init: bytes) -> str:
    """RFC 6381 codecs string from the avcC box of an init segment."""
    at = init.find(b"avcC")
    if at < 0 or at + 8 > len(init):
        return "avc1.64001f,mp4a.40.2"
    profile, compat, level = init[at + 5], init[at + 6], init[at + 7]
    return f"avc1.{profile:02x}{compat:02x}{level:02x},mp4a.40.2"


class RenditionEncoder:
    """Encodes frames of one rendition and reports the init segment and each fragment."""

    def __init__(
        self,
        spec: RenditionSpec,
        on_init: InitCallback,
        on_chunk: ChunkCallback,
        fps: int = 30,
        segment_frames: int = 60,
        part_duration: float = 0.5,
        threads: int = 1,
    ) -> None:
        self.spec = spec
        self.fps = fps
        self._on_init = on_init
        self._on_chunk = on_chunk
        self._splitter = Fmp4Splitter()
        self._init_sent = False
        self._closed = False
        options = {
            "movflags": "frag_keyframe+empty_moov+default_base_moof",
            "frag_duration": str(int(part_duration * 1_000_000)),
            # Keep video at 0 (the default shifts every track by the AAC priming delay,
            # stretching the first video frame).
            "avoid_negative_ts": "make_non_negative",
        }
        self._container = av.open(_Sink(self._on_bytes), "w", format="mp4", options=options)
        self._video = self._add_video(segment_frames, threads)
        self._audio = self._container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        self._audio.bit_rate = spec.audio_kbps * 1000

    def _add_video(self, gop: int, threads: int) -> av.video.stream.VideoStream:
        kbps = self.spec.video_kbps
        params = (
            f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:"
            f"vbv-maxrate={int(kbps * 1.2)}:vbv-bufsize={kbps * 2}:threads={threads}"
        )
        if self.spec.cbr:
            params += f":nal-hrd=cbr:vbv-maxrate={kbps}:vbv-bufsize={kbps}"
        stream = self._container.add_stream(
            "libx264",
            rate=self.fps,
            options={"preset": "veryfast", "tune": "zerolatency", "x264-params": params},
        )
        stream.width = self.spec.width
        stream.height = self.spec.height
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = kbps * 1000
        stream.codec_context.time_base = Fraction(1, self.fps)
        return stream

    def encode_video(self, frame: av.VideoFrame, index: int) -> None:
        """Encode the composite frame number ``index`` (time = index / fps)."""
        if frame.width != self.spec.width or frame.height != self.spec.height:
            frame = frame.reformat(self.spec.width, self.spec.height, "yuv420p")
        frame.pts = index
        frame.time_base = Fraction(1, self.fps)
        for packet in self._video.encode(frame):
            self._container.mux(packet)

    def encode_audio(self, samples: np.ndarray, first_sample: int) -> None:
        """Encode stereo float32 samples, shape (2, n), starting at sample ``first_sample``."""
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout="stereo"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = first_sample
        frame.time_base = Fraction(1, SAMPLE_RATE)
        for packet in self._audio.encode(frame):
            self._container.mux(packet)

    def _on_bytes(self, data: bytes) -> None:
        for fragment in self._splitter.feed(data):
            self._emit(fragment)

    def _emit(self, fragment: Fragment) -> None:
        init = self._splitter.init_segment
        if not self._init_sent and init is not None:
            self._init_sent = True
            self._on_init(init, codecs_from_init(init))
        timescale = 1 / float(self._video.time_base or Fraction(1, 90000))
        start = fragment.decode_times.get(VIDEO_TRACK)
        frames = fragment.sample_counts.get(VIDEO_TRACK, 0)
        start_s = (start / timescale) if start is not None else -1.0
        self._on_chunk(Chunk(fragment.data, start_s, frames))

    def close(self) -> None:
        """Flush the encoders and the last fragment. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            for stream in (self._video, self._audio):
                for packet in stream.encode(None):
                    self._container.mux(packet)
        finally:
            self._container.close()
