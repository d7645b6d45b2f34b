"""What the compositor reads: decoded frames per speaker and who is on screen.

:class:`StageInput` is the boundary. :class:`StageBuffer` is the live implementation: the SFU
side (or the RTP path in :mod:`broadcast.rtp`) pushes decoded frames and speaker changes into it;
the pipeline thread pulls. Only sources the compositor shows are ``wanted`` — the RTP path
decodes nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

import av
import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48000
SourceKind = Literal["camera", "screen"]
Layout = Literal["speaker", "grid"]
MAX_GRID = 4
MAX_GAP = 0.5  # longer silences are a paused sender, not loss: no filling


@dataclass(frozen=True)
class SourceKey:
    """A video source on the stage: a participant's camera or screen share."""

    participant_id: str
    kind: SourceKind = "camera"


@dataclass(frozen=True)
class StageState:
    """Who is shown. ``speaker`` layout shows the screen share (speaker as PiP) when present."""

    active_speaker: str | None = None
    screen_share: str | None = None
    layout: Layout = "speaker"
    grid: tuple[str, ...] = ()


class StageInput(Protocol):
    """Source of everything the compositor and mixer need, pulled once per output frame."""

    def advance(self, t: float) -> None:
        """The output clock reached ``t`` seconds (synthetic inputs render for it)."""

    def state(self) -> StageState: ...

    def want(self, keys: frozenset[SourceKey]) -> None:
        """The video sources shown from now on; others need not be decoded."""

    def video(self, key: SourceKey) -> av.VideoFrame | None:
        """The latest decoded frame of a source, or None if there is none yet."""

    def audio(self, count: int) -> dict[str, np.ndarray]:
        """The next ``count`` mono float32 samples (48 kHz) of each participant with audio."""


def to_video_frame(frame: av.VideoFrame | np.ndarray) -> av.VideoFrame:
    """Accept a PyAV frame or an RGB (h, w, 3) / yuv420p (h*3/2, w) uint8 array."""
    if isinstance(frame, av.VideoFrame):
        return frame
    if frame.ndim == 3:
        return av.VideoFrame.from_ndarray(frame, format="rgb24")
    return av.VideoFrame.from_ndarray(frame, format="yuv420p")


class _AudioQueue:
    """A bounded mono FIFO: overflow drops the oldest audio (a producer that runs ahead)."""

    def __init__(self, max_seconds: float = 1.0) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self._size = 0
        self._max = int(max_seconds * SAMPLE_RATE)
        self._next_ts: float | None = None

    def push(self, samples: np.ndarray, ts: float | None = None) -> None:
        """Queue samples; with a timestamp (s), a gap since the last push is filled with silence."""
        if ts is not None:
            gap = 0.0 if self._next_ts is None else ts - self._next_ts
            if 0.005 < gap < MAX_GAP:  # lost packets: keep later audio at its time
                self._append(np.zeros(round(gap * SAMPLE_RATE), dtype=np.float32))
            self._next_ts = ts + len(samples) / SAMPLE_RATE
        self._append(samples)

    def _append(self, samples: np.ndarray) -> None:
        self._chunks.append(samples)
        self._size += len(samples)
        while self._size > self._max and self._chunks:
            self._size -= len(self._chunks.popleft())

    def pull(self, count: int) -> np.ndarray:
        out = np.zeros(count, dtype=np.float32)
        filled = 0
        while filled < count and self._chunks:
            head = self._chunks[0]
            take = min(count - filled, len(head))
            out[filled : filled + take] = head[:take]
            filled += take
            if take == len(head):
                self._chunks.popleft()
            else:
                self._chunks[0] = head[take:]
        self._size -= filled
        return out


class StageBuffer:
    """Live :class:`StageInput`: producers push frames and speaker changes (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = StageState()
        self._frames: dict[SourceKey, av.VideoFrame] = {}
        self._audio: dict[str, _AudioQueue] = {}
        self._resamplers: dict[str, av.AudioResampler] = {}
        self._wanted: frozenset[SourceKey] = frozenset()

    # --- producer side ---------------------------------------------------------------------
    def push_video(
        self, key: SourceKey, frame: av.VideoFrame | np.ndarray, ts: float | None = None
    ) -> None:
        """The latest picture of a source wins (``ts`` is accepted for symmetry, not needed)."""
        with self._lock:
            self._frames[key] = to_video_frame(frame)

    def push_audio(
        self, participant_id: str, samples: av.AudioFrame | np.ndarray, ts: float | None = None
    ) -> None:
        """Mono or any PyAV frame (resampled to 48 kHz mono); ``ts`` in seconds, if known."""
        mono = self._to_mono(participant_id, samples)
        with self._lock:
            self._audio.setdefault(participant_id, _AudioQueue()).push(mono, ts)

    def _to_mono(self, participant_id: str, samples: av.AudioFrame | np.ndarray) -> np.ndarray:
        if not isinstance(samples, av.AudioFrame):
            return np.asarray(samples, dtype=np.float32).reshape(-1)
        resampler = self._resamplers.get(participant_id)
        if resampler is None:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            self._resamplers[participant_id] = resampler
        parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(samples)]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)

    def set_state(self, state: StageState) -> None:
        with self._lock:
            self._state = state

    def remove(self, participant_id: str) -> None:
        """A participant left the stage: forget its frames and audio."""
        with self._lock:
            for key in [k for k in self._frames if k.participant_id == participant_id]:
                del self._frames[key]
            self._audio.pop(participant_id, None)
            self._resamplers.pop(participant_id, None)

    def wanted(self, key: SourceKey) -> bool:
        return key in self._wanted

    # --- StageInput ------------------------------------------------------------------------
    def advance(self, t: float) -> None:
        return None

    def state(self) -> StageState:
        return self._state

    def want(self, keys: frozenset[SourceKey]) -> None:
        if keys == self._wanted:
            return
        with self._lock:  # a hidden source's last frame goes stale: never show it again
            for key in [k for k in self._frames if k not in keys]:
                del self._frames[key]
        self._wanted = keys

    def video(self, key: SourceKey) -> av.VideoFrame | None:
        with self._lock:
            return self._frames.get(key)

    def audio(self, count: int) -> dict[str, np.ndarray]:
        with self._lock:
            return {pid: q.pull(count) for pid, q in self._audio.items()}
