"""Decode helpers for tests: read back what the pipeline wrote, with real FFmpeg (PyAV)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from broadcast.synthetic import flashing, read_stamp


@dataclass
class Decoded:
    """Decoded media: per video frame (time, stamp index, speaker, flash); mono audio."""

    video: list[tuple[float, int, int, bool]] = field(default_factory=list)
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    audio_start: float = 0.0
    sample_rate: int = 48000
    duration: float = 0.0

    def flash_times(self) -> list[float]:
        times = [t for t, _, _, flash in self.video if flash]
        return [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > 0.5]

    def beep_times(self) -> list[float]:
        """Onsets of the loud beeps: 2 ms windows rising above half of full scale."""
        win = self.sample_rate // 500
        usable = len(self.audio) // win * win
        peaks = np.abs(self.audio[:usable]).reshape(-1, win).max(axis=1)
        loud = peaks > 0.45
        onsets = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
        times = [self.audio_start + i * win / self.sample_rate for i in onsets]
        return [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > 0.5]


def decode(source: str | Path | io.BytesIO) -> Decoded:
    """Decode every video frame and all audio of a file or playlist."""
    out = Decoded()
    chunks: list[np.ndarray] = []
    with av.open(source if isinstance(source, io.BytesIO) else str(source)) as container:
        streams = [s for s in (container.streams.video[:1] + container.streams.audio[:1])]
        for frame in container.decode(*streams):
            if isinstance(frame, av.VideoFrame):
                y_plane = frame.to_ndarray(format="gray")
                index, speaker = read_stamp(y_plane)
                out.video.append((float(frame.time or 0.0), index, speaker, flashing(y_plane)))
            elif isinstance(frame, av.AudioFrame):
                if not chunks:
                    out.audio_start = float(frame.time or 0.0)
                    out.sample_rate = frame.sample_rate
                chunks.append(frame.to_ndarray()[0].astype(np.float32))
    if chunks:
        out.audio = np.concatenate(chunks)
    if out.video:
        out.duration = out.video[-1][0] - out.video[0][0] + 1 / 30
    return out


def av_offsets(decoded: Decoded) -> list[float]:
    """For each video flash, the distance to the nearest audio beep (seconds)."""
    beeps = decoded.beep_times()
    assert beeps, "no beeps found in the audio"
    return [min(abs(f - b) for b in beeps) for f in decoded.flash_times()]


def first_packet_is_keyframe(init: bytes, segment: bytes) -> bool:
    with av.open(io.BytesIO(init + segment)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                return bool(packet.is_keyframe)
    return False
