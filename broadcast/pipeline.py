"""The broadcast pipeline: stage → compositor + mixer → one encode per rendition → HLS.

It runs in its own thread (encoding never blocks the event loop) and produces frames at a
constant rate: when a source stalls its last frame repeats, when nobody speaks the mix is silence.
Frame index n is time n / fps for video and audio alike, which keeps them in sync by design.
"""

from __future__ import annotations

import logging
import threading
import time

from broadcast.compositor import Compositor
from broadcast.encoder import SAMPLE_RATE, RenditionEncoder, RenditionSpec
from broadcast.hls import HlsTiming, LiveOutput
from broadcast.mixer import AudioMixer
from broadcast.stage import StageInput
from recordings.manifest import Manifest, RenditionInfo
from recordings.storage import Storage
from recordings.writer import RecordingWriter

logger = logging.getLogger(__name__)


class BroadcastPipeline:
    """Drives one :class:`LiveOutput` from a :class:`StageInput`; ``close()`` ends the stream."""

    def __init__(
        self, stage: StageInput, output: LiveOutput, realtime: bool = True, threads: int = 1
    ) -> None:
        self.stage = stage
        self.output = output
        self.realtime = realtime
        timing = output.timing
        self.fps = timing.fps
        first = next(iter(output.renditions.values())).spec
        self.compositor = Compositor(first.width, first.height)
        self.mixer = AudioMixer()
        self.encoders = [
            RenditionEncoder(
                r.spec,
                r.on_init,
                r.on_chunk,
                timing.fps,
                timing.segment_frames,
                timing.part_target,
                threads,
            )
            for r in output.renditions.values()
        ]
        self.frames = 0
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def step(self) -> None:
        """Produce, encode and mux the next frame and its share of audio."""
        index = self.frames
        self.stage.advance(index / self.fps)
        state = self.stage.state()
        shown = self.compositor.layout(state)
        self.stage.want(frozenset(key for key, _ in shown))
        frame = self.compositor.compose(state, {key: self.stage.video(key) for key, _ in shown})
        first_sample = index * SAMPLE_RATE // self.fps
        count = (index + 1) * SAMPLE_RATE // self.fps - first_sample
        mixed = self.mixer.mix(self.stage.audio(count), count)
        for encoder in self.encoders:
            encoder.encode_video(frame, index)
            encoder.encode_audio(mixed, first_sample)
        self.frames += 1

    def run_frames(self, count: int) -> None:
        """Run ``count`` frames in the calling thread (paced if ``realtime``)."""
        for _ in range(count):
            if self._stop.is_set():
                return
            self._pace()
            self.step()

    def _pace(self) -> None:
        if not self.realtime:
            return
        if self.started_at is None:
            self.started_at = time.monotonic()
        delay = self.started_at + self.frames / self.fps - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        elif delay < -1.0 and self.frames % self.fps == 0:
            logger.warning("broadcast %s: %.1f s behind real time", self.output.id, -delay)

    def start(self) -> None:
        """Run in a background thread until :meth:`close`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"broadcast-{self.output.id}")
        self._thread.daemon = True
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.run_frames(self.fps)
        except Exception:
            logger.exception("broadcast %s: pipeline failed", self.output.id)

    def stop(self) -> None:
        """Stop producing frames; the output stays open (live, frozen) until :meth:`close`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        """Stop, flush the encoders, close the playlists and the recording. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        for encoder in self.encoders:
            try:
                encoder.close()
            except Exception:
                logger.exception("broadcast %s: encoder flush failed", self.output.id)
        self.output.close()


def open_broadcast(
    broadcast_id: str,
    stage: StageInput,
    storage: Storage | None,
    specs: tuple[RenditionSpec, ...] = (RenditionSpec(),),
    title: str = "",
    timing: HlsTiming | None = None,
    realtime: bool = True,
) -> BroadcastPipeline:
    """A pipeline whose output is also recorded into ``storage`` (None: live only).

    Register ``pipeline.output`` in the :class:`~broadcast.hls.OutputRegistry`, then
    ``pipeline.start()``; ``pipeline.close()`` ends the stream and closes the recording.
    """
    timing = timing or HlsTiming()
    writer = None
    if storage is not None:
        renditions = tuple(RenditionInfo(s.name, s.width, s.height, s.bandwidth) for s in specs)
        manifest = Manifest(
            broadcast_id, title, target_duration=timing.segment_seconds, renditions=renditions
        )
        writer = RecordingWriter(storage, manifest)
        writer.open()
    output = LiveOutput(broadcast_id, list(specs), writer, timing)
    return BroadcastPipeline(stage, output, realtime)
