"""Live HLS output: fragments → segments and LL-HLS parts, playlists kept as text in memory.

The encoder thread pushes fragments in; HTTP handlers read playlist text and segment bytes out.
Only a sliding window is kept in memory (flat memory for hours); every segment also goes to the
:class:`~recordings.writer.RecordingWriter`, which is the recording (issue 7). With a recording
the playlist lists a longer window (the older segments are served from the recording), and each
update also renders the playlist delta update (``_HLS_skip=YES``, RFC 8216bis §6.2.5.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from broadcast.encoder import Chunk, RenditionSpec
from recordings.manifest import INIT, RenditionInfo, SegmentRecord, segment_name
from recordings.playlist import master_playlist
from recordings.storage import Storage
from recordings.writer import RecordingWriter

logger = logging.getLogger(__name__)


def part_name(seq: int, index: int) -> str:
    return f"seg_{seq:06d}.p{index}.m4s"


@dataclass
class Part:
    """One LL-HLS part (a muxer fragment); the first of a segment starts on a keyframe."""

    data: bytes
    frames: int


@dataclass
class LiveSegment:
    """A segment being built or complete; ``data`` is set when complete."""

    seq: int
    start: float
    parts: list[Part] = field(default_factory=list)
    data: bytes | None = None  # None once it left the memory window (or while being built)
    stored: bool = False  # written to the recording: servable from there after leaving memory

    def frames(self) -> int:
        return sum(p.frames for p in self.parts)


@dataclass(frozen=True)
class HlsTiming:
    """Frame rate, frames per segment, nominal part length, and the windows (in segments):
    ``window`` segments' bytes stay in memory (and are all a playlist lists without a
    recording); with a recording the playlist lists ``recorded_window`` segments, the older ones
    served from the recording — a minute to seek back, and long enough for delta updates to
    leave something out."""

    fps: int = 30
    segment_frames: int = 60
    part_target: float = 0.5
    window: int = 6
    parts_kept: int = 3
    recorded_window: int = 30

    @property
    def segment_seconds(self) -> float:
        return self.segment_frames / self.fps

    @property
    def target_duration(self) -> int:
        return max(1, round(self.segment_seconds))

    @property
    def skip_boundary(self) -> float:
        """CAN-SKIP-UNTIL: the least the spec allows, six target durations."""
        return 6.0 * self.target_duration


class LiveRendition:
    """The live state of one rendition: init, recent segments and parts, playlist text."""

    def __init__(
        self,
        spec: RenditionSpec,
        timing: HlsTiming,
        writer: RecordingWriter | None,
        notify: Callable[[], None],
    ) -> None:
        self.spec = spec
        self.timing = timing
        self._writer = writer
        self._notify = notify
        self._lock = threading.Lock()
        self._segments: OrderedDict[int, LiveSegment] = OrderedDict()
        self._current: LiveSegment | None = None
        self._pending = b""
        self._frames = 0  # video frames received so far: the next chunk's first frame index
        self._ended = False
        self.init: bytes | None = None
        self.codecs = "avc1.64001f,mp4a.40.2"
        self.playlist = ""
        self.delta = ""  # the playlist delta update (_HLS_skip=YES); the playlist when none
        self.skipped = 0  # media segments the delta leaves out

    # --- encoder thread side -------------------------------------------------------------
    def on_init(self, init: bytes, codecs: str) -> None:
        self.init = init
        self.codecs = codecs
        if self._writer is not None:
            self._writer.write_init(self.spec.name, init)
            self._writer.set_codecs(self.spec.name, codecs)

    def on_chunk(self, chunk: Chunk) -> None:
        if chunk.frames == 0:  # audio-only fragment: keep it with the next part
            self._pending += chunk.data
            return
        data, self._pending = self._pending + chunk.data, b""
        # Frame counts, not tfdt: the muxer shifts tracks by the AAC priming delay.
        index, self._frames = self._frames, self._frames + chunk.frames
        starts_segment = index % self.timing.segment_frames == 0
        done = None
        with self._lock:
            if self._current is None or (starts_segment and self._current.parts):
                done = self._finish_current()
                seq = index // self.timing.segment_frames
                self._current = LiveSegment(seq, index / self.timing.fps)
            self._current.parts.append(Part(data, chunk.frames))
            self._render()
        self._notify()
        self._record(done)

    def finish(self) -> None:
        """The encode ended: complete the last segment and close the playlist. Idempotent."""
        with self._lock:
            if self._ended:
                return
            if self._pending and self._current is not None:
                self._current.parts.append(Part(self._pending, 0))
            done = self._finish_current()
            self._ended = True
            self._render()
        self._notify()
        self._record(done)

    def _finish_current(self) -> LiveSegment | None:
        seg, self._current = self._current, None
        if seg is None or not seg.parts:
            return None
        seg.data = b"".join(p.data for p in seg.parts)
        self._segments[seg.seq] = seg
        self._trim()
        return seg

    def _record(self, seg: LiveSegment | None) -> None:
        """Write a finished segment to the recording — outside the lock: readers never wait
        for a disk (the segment is served from memory meanwhile)."""
        if seg is None or seg.data is None or self._writer is None:
            return
        duration = seg.frames() / self.timing.fps
        record = SegmentRecord(seg.seq, round(duration, 6), len(seg.data), seg.start)
        seg.stored = self._writer.write_segment(self.spec.name, record, seg.data)

    def _listed_max(self) -> int:
        t = self.timing
        return max(t.window, t.recorded_window) if self._writer is not None else t.window

    def _trim(self) -> None:
        in_memory = self.timing.window + 2  # a client may still fetch what just left the window
        while len(self._segments) > max(in_memory, self._listed_max()):
            self._segments.popitem(last=False)
        held = list(self._segments.values())
        for seg in held[:-in_memory]:
            seg.data = None  # the recording serves it now; the counts stay for the playlist
        for seg in held[: -self.timing.parts_kept]:
            seg.parts = [Part(b"", p.frames) for p in seg.parts]  # keep counts, drop bytes

    # --- reader side (any thread) ----------------------------------------------------------
    def segment(self, seq: int) -> bytes | None:
        with self._lock:
            seg = self._segments.get(seq)
            return seg.data if seg is not None else None

    def part(self, seq: int, index: int) -> bytes | None:
        with self._lock:
            seg = self._segments.get(seq)
            if seg is None and self._current is not None and self._current.seq == seq:
                seg = self._current
            if seg is None or index >= len(seg.parts) or not seg.parts[index].data:
                return None
            return seg.parts[index].data

    def has(self, msn: int, part: int | None) -> bool:
        """True once the playlist holds segment ``msn`` (or its part ``part``)."""
        with self._lock:
            if self._ended or msn <= self._last_seq():
                return True
            cur = self._current
            if part is None or cur is None or cur.seq != msn:
                return False
            return part < len(cur.parts)

    def _upcoming(self, current: LiveSegment) -> tuple[int, int]:
        """(segment, part) of the part the muxer writes next."""
        if current.frames() >= self.timing.segment_frames:
            return current.seq + 1, 0
        return current.seq, len(current.parts)

    def is_upcoming(self, seq: int, index: int) -> bool:
        """True for a part that is not written yet but soon will be (a preload hint)."""
        with self._lock:
            cur = self._current
            if cur is None or self._ended:
                return False
            in_current = seq == cur.seq and index >= len(cur.parts)
            return in_current or (seq == cur.seq + 1 and index == 0)

    def _last_seq(self) -> int:
        return next(reversed(self._segments)) if self._segments else -1

    def next_msn(self) -> int:
        with self._lock:
            return self._current.seq if self._current is not None else self._last_seq() + 1

    @property
    def ended(self) -> bool:
        return self._ended

    def info(self) -> RenditionInfo:
        return RenditionInfo(
            self.spec.name, self.spec.width, self.spec.height, self.spec.bandwidth, self.codecs
        )

    # --- playlist text ---------------------------------------------------------------------
    def _listed(self) -> list[LiveSegment]:
        """The segments the playlist lists: the newest ones that can still be served, from
        memory or from the recording (a contiguous run: a segment that failed to be written
        ends it once it has left memory)."""
        listed: list[LiveSegment] = []
        for seg in reversed(self._segments.values()):
            if len(listed) == self._listed_max() or (seg.data is None and not seg.stored):
                break
            listed.append(seg)
        return listed[::-1]

    def _render(self) -> None:
        """Render the playlist and its delta update, once per change (never per request)."""
        t = self.timing
        segments = self._listed()
        first = segments[0].seq if segments else (self._current.seq if self._current else 0)
        control = f"CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={t.skip_boundary:.1f}"
        head = [
            "#EXTM3U",
            "#EXT-X-VERSION:9",
            f"#EXT-X-TARGETDURATION:{t.target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            f"#EXT-X-SERVER-CONTROL:{control},PART-HOLD-BACK={3 * t.part_target:.3f}",
            f"#EXT-X-PART-INF:PART-TARGET={t.part_target:.3f}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
            f'#EXT-X-MAP:URI="{INIT}"',
        ]
        with_parts = {s.seq for s in segments[-t.parts_kept + 1 :]} if t.parts_kept > 1 else set()
        blocks = [self._segment_lines(seg, seg.seq in with_parts) for seg in segments]
        tail: list[str] = []
        if self._current is not None and not self._ended:
            tail.extend(self._part_lines(self._current))
            seq, index = self._upcoming(self._current)
            tail.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_name(seq, index)}"')
        if self._ended:
            tail.append("#EXT-X-ENDLIST")
        self.playlist = _text(head, *blocks, tail)
        self.skipped = self._skippable(segments)
        if self.skipped == 0:  # nothing to leave out: the delta update is the playlist itself
            self.delta = self.playlist
        else:
            skip = [f"#EXT-X-SKIP:SKIPPED-SEGMENTS={self.skipped}"]
            self.delta = _text(head, skip, *blocks[self.skipped :], tail)

    def _skippable(self, segments: list[LiveSegment]) -> int:
        """How many leading segments a delta update leaves out: those that end at least the
        Skip Boundary before the end of the playlist (its last part). Counted in frames, so
        no rounding decides; a segment straddling the boundary stays."""
        boundary = round(self.timing.skip_boundary * self.timing.fps)
        current = self._current.frames() if self._current and not self._ended else 0
        remaining = sum(seg.frames() for seg in segments) + current  # from a segment's start
        skipped = 0
        for seg in segments:
            remaining -= seg.frames()  # now: from this segment's end to the playlist's end
            if remaining < boundary:
                break
            skipped += 1
        return skipped

    def _segment_lines(self, seg: LiveSegment, with_parts: bool) -> list[str]:
        lines = self._part_lines(seg) if with_parts else []
        lines.append(f"#EXTINF:{seg.frames() / self.timing.fps:.5f},")
        lines.append(segment_name(seg.seq))
        return lines

    def _part_lines(self, seg: LiveSegment) -> list[str]:
        lines = []
        for i, part in enumerate(seg.parts):
            flag = ",INDEPENDENT=YES" if i == 0 else ""
            duration = part.frames / self.timing.fps
            lines.append(f'#EXT-X-PART:DURATION={duration:.5f},URI="{part_name(seg.seq, i)}"{flag}')
        return lines


def _text(*groups: list[str]) -> str:
    return "\n".join(line for group in groups for line in group) + "\n"


class LiveOutput:
    """A live broadcast's HLS output (one or more renditions) plus its recording writer."""

    def __init__(
        self,
        broadcast_id: str,
        specs: list[RenditionSpec],
        writer: RecordingWriter | None = None,
        timing: HlsTiming | None = None,
    ) -> None:
        self.id = broadcast_id
        self.timing = timing or HlsTiming()
        self.writer = writer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self.renditions = {
            s.name: LiveRendition(s, self.timing, writer, self._notify) for s in specs
        }
        self._closed = False
        self._ended = False

    def master(self) -> str:
        return master_playlist(r.info() for r in self.renditions.values())

    @property
    def ended(self) -> bool:
        """True once closed completely: the recording (if any) is final and can replay."""
        return self._ended

    def close(self) -> None:
        """End the stream: last segments complete, ENDLIST, recording closed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for rendition in self.renditions.values():
            rendition.finish()
        if self.writer is not None:
            self.writer.close()
        self._ended = True

    def _notify(self) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()
        self._event = None

    async def wait_for(self, rendition: str, msn: int, part: int | None, max_wait: float) -> bool:
        """Block (LL-HLS blocking reload) until segment ``msn`` / part is in the playlist."""
        live = self.renditions[rendition]
        self._loop = asyncio.get_running_loop()
        deadline = self._loop.time() + max_wait
        while not live.has(msn, part):
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return False
            if self._event is None:
                self._event = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), min(remaining, 0.25))
        return True


class OutputRegistry:
    """Live outputs by broadcast id; ``storage`` replays ended broadcasts at the same link."""

    def __init__(self, storage: Storage | None = None) -> None:
        self.storage = storage
        self._outputs: dict[str, LiveOutput] = {}

    def add(self, output: LiveOutput) -> None:
        self._outputs[output.id] = output

    def remove(self, broadcast_id: str) -> None:
        self._outputs.pop(broadcast_id, None)

    def get(self, broadcast_id: str) -> LiveOutput | None:
        return self._outputs.get(broadcast_id)


__all__ = ["HlsTiming", "LiveOutput", "LiveRendition", "OutputRegistry", "part_name"]
