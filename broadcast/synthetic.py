"""Synthetic speakers for tests and benchmarks: moving patterns, tones, and a readable stamp.

Each speaker's frame carries a row of black/white blocks along its top edge encoding the frame
index (16 bits) and the speaker number (4 bits), so a decoder downstream can tell which frame of
which speaker it is looking at (speaker switch, glass-to-glass latency). On every whole second
every speaker flashes a white band at the bottom and beeps, for audio/video sync checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import av
import numpy as np

from broadcast.stage import SAMPLE_RATE, SourceKey, StageState

logger = logging.getLogger(__name__)

STAMP_BITS = 20
BEEP_SECONDS = 0.06
FLASH_BAND = 8  # the bottom 1/8 of the frame flashes


def stamp_block(width: int) -> int:
    return max(4, width // (2 * STAMP_BITS) // 2 * 2)


def _stamp(y_plane: np.ndarray, value: int) -> None:
    block = stamp_block(y_plane.shape[1])
    for bit in range(STAMP_BITS):
        level = 235 if (value >> bit) & 1 else 16
        y_plane[:block, bit * block : (bit + 1) * block] = level


def read_stamp(y_plane: np.ndarray) -> tuple[int, int]:
    """(frame index, speaker number) read back from a decoded luma plane."""
    block = stamp_block(y_plane.shape[1])
    value = 0
    for bit in range(STAMP_BITS):
        centre = y_plane[
            block // 4 : 3 * block // 4, bit * block + block // 4 : (bit + 1) * block - block // 4
        ]
        if float(centre.mean()) > 128:
            value |= 1 << bit
    return value & 0xFFFF, value >> 16


def flashing(y_plane: np.ndarray) -> bool:
    """True if the bottom band of a decoded luma plane is the white flash."""
    height = y_plane.shape[0]
    band = y_plane[height - height // FLASH_BAND + 2 : height - 2, :]
    return float(band.mean()) > 200


@dataclass
class SyntheticSpeaker:
    """One fake speaker: a coloured moving pattern and a tone at ``freq`` Hz."""

    number: int
    width: int = 320
    height: int = 180
    freq: float = 220.0
    level: float = 0.05
    fps: int = 30
    _base: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        yy, xx = np.mgrid[0 : self.height, 0 : self.width]
        self._base = ((xx + yy) % 256).astype(np.uint8)

    def frame(self, index: int) -> av.VideoFrame:
        h, w = self.height, self.width
        planes = np.empty((h * 3 // 2, w), dtype=np.uint8)
        y_plane = planes[:h]
        np.add(self._base, np.uint8((index * 4) % 256), out=y_plane, casting="unsafe")
        y_plane //= 2
        y_plane += 40
        _stamp(y_plane, index | (self.number << 16))
        if index % self.fps == 0:
            y_plane[h - h // FLASH_BAND :] = 235
        planes[h : h + h // 4] = 60 + 50 * self.number  # U
        planes[h + h // 4 :] = 200 - 40 * self.number  # V
        return av.VideoFrame.from_ndarray(planes, format="yuv420p")

    def audio(self, first: int, count: int) -> np.ndarray:
        t = (first + np.arange(count)) / SAMPLE_RATE
        tone = self.level * np.sin(2 * np.pi * self.freq * t)
        in_beep = (t % 1.0) < BEEP_SECONDS
        beep = 0.6 * np.sin(2 * np.pi * 1000.0 * t)
        return np.where(in_beep, beep, tone).astype(np.float32)


class SyntheticStage:
    """A :class:`~broadcast.stage.StageInput` of N speakers following a speaker schedule."""

    def __init__(
        self,
        count: int = 3,
        width: int = 320,
        height: int = 180,
        schedule: list[tuple[float, StageState]] | None = None,
        fps: int = 30,
    ) -> None:
        self.speakers = {
            f"s{i}": SyntheticSpeaker(i, width, height, 220.0 * (i + 1), fps=fps)
            for i in range(count)
        }
        self.schedule = sorted(
            schedule or [(0.0, StageState(active_speaker="s0"))], key=lambda entry: entry[0]
        )
        self.fps = fps
        self._t = 0.0
        self._sample = 0
        self.wanted: frozenset[SourceKey] = frozenset()
        self.rendered: set[SourceKey] = set()

    def advance(self, t: float) -> None:
        self._t = t

    def state(self) -> StageState:
        current = self.schedule[0][1]
        for start, state in self.schedule:
            if start <= self._t + 1e-9:
                current = state
        return current

    def want(self, keys: frozenset[SourceKey]) -> None:
        self.wanted = keys

    def video(self, key: SourceKey) -> av.VideoFrame | None:
        speaker = self.speakers.get(key.participant_id)
        if speaker is None or key not in self.wanted:
            return None
        self.rendered.add(key)
        return speaker.frame(round(self._t * self.fps))

    def audio(self, count: int) -> dict[str, np.ndarray]:
        first, self._sample = self._sample, self._sample + count
        return {pid: s.audio(first, count) for pid, s in self.speakers.items()}
