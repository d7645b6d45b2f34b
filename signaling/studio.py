"""The recorder and the broadcast output: a compositor subscribed to the room in the SFU.

Starting a room's recording attaches a :class:`broadcast.studio.StageSink` to the SFU room and
runs one :class:`broadcast.pipeline.BroadcastPipeline` — one encode — whose HLS output is served
live at ``/hls/{id}/`` and written segment by segment into the recording directory. A
broadcast's recording id is the room id, so its viewer link plays live and, after the end, the
recording from the start. A call's recording id is ``{room}-{unix time}``. A storage error
while recording reaches the hosts through ``on_problem``; the room goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from broadcast.encoder import RenditionSpec
from broadcast.hls import OutputRegistry
from broadcast.pipeline import BroadcastPipeline, open_broadcast
from broadcast.stage import Layout
from broadcast.studio import LiveStage, StageSink
from recordings.storage import Storage
from sfu.server import SFU
from signaling.recording import OnProblem, RecorderError, RecordingInfo

logger = logging.getLogger(__name__)

PRESETS = {
    "720p": RenditionSpec("720p", 1280, 720, 2500, 128),
    "360p": RenditionSpec("360p", 640, 360, 800, 96),
    "180p": RenditionSpec("180p", 320, 180, 300, 64),
}
DEFAULT_SPECS = (PRESETS["720p"],)  # 720p30 H.264 2.5 Mbit/s + AAC
OnReady = Callable[[RecordingInfo, str], Awaitable[None]]


@dataclass
class _Take:
    """One running recording."""

    info: RecordingInfo
    recording_id: str
    sink: StageSink
    pipeline: BroadcastPipeline
    watchdog: asyncio.Task[None]


class StudioRecorder:
    """signaling.recording.Recorder backed by the in-process SFU and PyAV."""

    def __init__(
        self,
        sfu: SFU,
        storage: Storage,
        outputs: OutputRegistry,
        specs: tuple[RenditionSpec, ...] = DEFAULT_SPECS,
        on_started: OnReady | None = None,
        on_ready: OnReady | None = None,
    ) -> None:
        self.sfu = sfu
        self.storage = storage
        self.outputs = outputs
        self.specs = specs
        self._on_started = on_started
        self._on_ready = on_ready
        self._takes: dict[str, _Take] = {}
        self._layouts: dict[str, Layout] = {}

    def recording_id(self, info: RecordingInfo) -> str:
        if info.kind == "broadcast":
            return info.room_id
        return f"{info.room_id}-{int(time.time())}"

    async def start(self, info: RecordingInfo, on_problem: OnProblem) -> str:
        if info.room_id in self._takes:
            return self._takes[info.room_id].recording_id
        rid = self.recording_id(info)
        stage = LiveStage(self._layouts.get(info.room_id, "speaker"))
        sink = StageSink(stage, lambda pid, source: self._keyframe(info.room_id, pid, source))
        try:
            pipeline = await asyncio.to_thread(
                open_broadcast, rid, stage, self.storage, self.specs, info.title
            )
        except (OSError, ValueError) as exc:
            sink.close()
            raise RecorderError("storage_unwritable", f"cannot record: {exc}") from None
        self.outputs.add(pipeline.output)
        self.sfu.attach_sink(info.room_id, sink)
        pipeline.start()
        watchdog = asyncio.get_running_loop().create_task(self._watch(pipeline, on_problem))
        self._takes[info.room_id] = _Take(info, rid, sink, pipeline, watchdog)
        if self._on_started is not None:
            await self._on_started(info, rid)
        logger.info("recording %s of room %s started", rid, info.room_id)
        return rid

    def _keyframe(self, room_id: str, participant_id: str, source: str) -> None:
        self.sfu.request_keyframe(room_id, participant_id, source)  # type: ignore[arg-type]

    async def _watch(self, pipeline: BroadcastPipeline, on_problem: OnProblem) -> None:
        """Storage errors (disk full, unwritable) are told to the hosts once."""
        writer = pipeline.output.writer
        while writer is not None:
            await asyncio.sleep(1.0)
            if writer.manifest.write_errors:
                on_problem("storage_error", "the recording could not be written (disk full?)")
                return

    async def stop(self, room_id: str) -> None:
        take = self._takes.pop(room_id, None)
        if take is None:
            return
        take.watchdog.cancel()
        self.sfu.detach_sink(room_id, take.sink)
        await asyncio.to_thread(take.pipeline.close)
        take.sink.close()
        self.outputs.remove(take.recording_id)
        logger.info("recording %s of room %s closed", take.recording_id, room_id)
        if self._on_ready is not None:
            await self._on_ready(take.info, take.recording_id)

    def set_layout(self, room_id: str, layout: str) -> None:
        chosen: Layout = "grid" if layout == "grid" else "speaker"
        self._layouts[room_id] = chosen
        take = self._takes.get(room_id)
        if take is not None:
            take.sink.stage.layout = chosen

    def active(self, room_id: str) -> str | None:
        take = self._takes.get(room_id)
        return None if take is None else take.recording_id

    async def close(self) -> None:
        for room_id in list(self._takes):
            with contextlib.suppress(Exception):
                await self.stop(room_id)
