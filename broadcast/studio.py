"""The compositor as a subscriber of an SFU room: SFU media sink → decode → stage → pipeline.

:class:`StageSink` implements :class:`sfu.api.MediaSink`: every published track of the room
arrives as decrypted RTP; each becomes an :class:`~broadcast.decode.RtpTrack` decoded on a
:class:`~broadcast.decode.DecodeThread` (video only while shown). :class:`LiveStage` picks the
active speaker from the decoded audio (the mixer decodes every voice anyway) with a hold time,
so the picture does not flicker between people who speak over each other.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import av
import numpy as np

from broadcast.decode import DecodeThread, RtpTrack, audio_track, video_track
from broadcast.stage import MAX_GRID, Layout, SourceKey, SourceKind, StageBuffer, StageState
from sfu.api import SinkTrack, Source

logger = logging.getLogger(__name__)

SPEAKING_RMS = 0.01  # about -40 dBFS: below it a voice is silence
SWITCH_HOLD_S = 0.8  # someone must be loudest this long before the picture changes
LEVEL_DECAY = 0.8  # smoothing of each voice's level per audio frame


class LiveStage(StageBuffer):
    """A StageBuffer that chooses the active speaker, screen share and grid itself."""

    def __init__(self, layout: Layout = "speaker") -> None:
        super().__init__()
        self.layout: Layout = layout
        self._levels: dict[str, float] = {}
        self._cameras: set[str] = set()
        self._screens: list[str] = []
        self._speaker: str | None = None
        self._candidate: tuple[str, float] | None = None
        self._meta = threading.Lock()

    def push_audio(
        self, participant_id: str, samples: av.AudioFrame | np.ndarray, ts: float | None = None
    ) -> None:
        data = samples.to_ndarray() if isinstance(samples, av.AudioFrame) else samples
        array = np.asarray(data, dtype=np.float32)
        if array.size and np.abs(array).max() > 1.5:  # integer samples
            array = array / 32768.0
        rms = float(np.sqrt(np.mean(np.square(array)))) if array.size else 0.0
        with self._meta:
            old = self._levels.get(participant_id, 0.0)
            self._levels[participant_id] = LEVEL_DECAY * old + (1 - LEVEL_DECAY) * rms
        super().push_audio(participant_id, samples, ts)

    def video_added(self, participant_id: str, source: Source) -> None:
        with self._meta:
            if source == "screen":
                self._screens.append(participant_id)
            else:
                self._cameras.add(participant_id)

    def video_removed(self, participant_id: str, source: Source) -> None:
        with self._meta:
            if source == "screen" and participant_id in self._screens:
                self._screens.remove(participant_id)
            elif source != "screen":
                self._cameras.discard(participant_id)

    def forget(self, participant_id: str) -> None:
        with self._meta:
            self._levels.pop(participant_id, None)
            if self._speaker == participant_id:
                self._speaker = None
        self.remove(participant_id)

    def state(self) -> StageState:
        with self._meta:
            speaker = self._choose(time.monotonic())
            screen = self._screens[-1] if self._screens else None
            grid = self._grid() if self.layout == "grid" else ()
        return replace(
            super().state(),
            active_speaker=speaker,
            screen_share=screen,
            layout=self.layout,
            grid=grid,
        )

    def _grid(self) -> tuple[str, ...]:
        """Up to four people with a camera: the loudest first, then in a stable order."""
        ranked = sorted(self._cameras, key=lambda pid: (-self._levels.get(pid, 0.0), pid))
        return tuple(ranked[:MAX_GRID])

    def _choose(self, now: float) -> str | None:
        loud = [(level, pid) for pid, level in self._levels.items() if level >= SPEAKING_RMS]
        loudest = max(loud)[1] if loud else None
        if self._speaker is None or self._speaker not in self._cameras | set(self._levels):
            self._speaker = loudest or next(iter(sorted(self._cameras)), None)
            self._candidate = None
        elif loudest is not None and loudest != self._speaker:
            if self._candidate is None or self._candidate[0] != loudest:
                self._candidate = (loudest, now)
            elif now - self._candidate[1] >= SWITCH_HOLD_S:
                self._speaker, self._candidate = loudest, None
        else:
            self._candidate = None
        return self._speaker


KeyframeRequest = Callable[[str, Source], None]


class StageSink:
    """sfu.api.MediaSink feeding a LiveStage; never blocks the SFU's packet path."""

    def __init__(self, stage: LiveStage, request_keyframe: KeyframeRequest) -> None:
        self.stage = stage
        self._request = request_keyframe
        self._loop = asyncio.get_running_loop()
        self._decoder = DecodeThread()
        self._tracks: dict[tuple[str, Source], RtpTrack] = {}

    def _ask(self, participant_id: str, source: Source) -> None:
        """Called on the decode thread: hop to the SFU's loop."""
        self._loop.call_soon_threadsafe(self._request, participant_id, source)

    def track_added(self, track: SinkTrack) -> None:
        key = (track.participant_id, track.source)
        codec = track.codec
        if codec not in ("opus", "vp8", "h264"):
            logger.warning("stage: %s track in %s is not decodable here", key, codec)
            return
        if track.kind == "audio":
            self._tracks[key] = audio_track(self.stage, track.participant_id, "opus")
            return
        kind: SourceKind = "screen" if track.source == "screen" else "camera"
        source_key = SourceKey(track.participant_id, kind)
        self._tracks[key] = video_track(
            self.stage,
            source_key,
            codec,  # type: ignore[arg-type]
            lambda: self._ask(track.participant_id, track.source),
        )
        self.stage.video_added(track.participant_id, track.source)

    def track_removed(self, track: SinkTrack) -> None:
        self._tracks.pop((track.participant_id, track.source), None)
        if track.kind == "video":
            self.stage.video_removed(track.participant_id, track.source)
        if not any(pid == track.participant_id for pid, _ in self._tracks):
            self.stage.forget(track.participant_id)

    def packet(self, track: SinkTrack, packet: bytes) -> None:
        rtp = self._tracks.get((track.participant_id, track.source))
        if rtp is not None:
            self._decoder.submit(rtp, packet)

    def close(self) -> None:
        self._decoder.close()
