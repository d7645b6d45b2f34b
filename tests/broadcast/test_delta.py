"""LL-HLS playlist delta updates (RFC 8216bis §6.2.5.1, §4.4.5.2): CAN-SKIP-UNTIL of six target
durations, EXT-X-SKIP replacing the segments that end at least that long before the end of the
playlist, media sequence numbers that match the full playlist; rendered once per update and
served over HTTP with the live playlist's cache rules. The segments a longer recorded window
lists beyond memory come from the recording."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from broadcast.hls import HlsTiming, OutputRegistry
from broadcast.http import add_routes
from broadcast.pipeline import BroadcastPipeline, open_broadcast
from broadcast.synthetic import SyntheticStage
from recordings.storage import LocalStorage
from tests.broadcast.conftest import SMALL

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]
TIMING = HlsTiming(recorded_window=10)  # 20 s listed, 16 s in memory: short enough to encode
FRAMES = 12 * 60 + 25  # twelve segments, and parts of the thirteenth


@dataclass
class Parsed:
    """A media playlist read line by line, as a client does."""

    target: int = 0
    sequence: int = 0
    control: dict[str, str] = field(default_factory=dict)
    skipped: int = 0
    segments: list[tuple[int, float, str]] = field(default_factory=list)  # msn, duration, uri
    trailing_parts: list[float] = field(default_factory=list)  # parts after the last segment
    head: list[str] = field(default_factory=list)  # lines before the first segment or skip
    tail: list[str] = field(default_factory=list)  # lines after the last segment
    endlist: bool = False


def parse(text: str) -> Parsed:
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U" and text.endswith("\n")
    out = Parsed()
    msn: int | None = None
    duration: float | None = None
    pending: list[str] = []
    for line in lines:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-TARGETDURATION":
            out.target = int(value)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            out.sequence = int(value)
        elif tag == "#EXT-X-SERVER-CONTROL":
            out.control = dict(item.split("=", 1) for item in value.split(","))
        elif tag == "#EXT-X-SKIP":
            assert msn is None, "EXT-X-SKIP comes before every listed segment"
            out.skipped = int(value.removeprefix("SKIPPED-SEGMENTS="))
        elif tag == "#EXT-X-ENDLIST":
            out.endlist = True
        elif tag == "#EXTINF":
            duration = float(value.rstrip(","))
        elif line and not line.startswith("#"):
            assert duration is not None, line
            msn = (out.sequence + out.skipped) if msn is None else msn + 1
            assert line == f"seg_{msn:06d}.m4s", (msn, line)  # numbering matches the names
            out.segments.append((msn, duration, line))
            duration, pending = None, []
            continue
        if msn is None and not out.skipped and tag not in ("#EXT-X-PART", "#EXTINF"):
            out.head.append(line)
        pending.append(line)
    out.tail = pending
    out.trailing_parts = [
        float(d) for d in re.findall(r"#EXT-X-PART:DURATION=([\d.]+)", "\n".join(pending))
    ]
    return out


def expected_skip(full: Parsed, boundary: float) -> int:
    """Counted from the durations the client sees: leading segments that end at least the
    boundary before the playlist's end (its last part)."""
    end = sum(d for _, d, _ in full.segments) + sum(full.trailing_parts)
    elapsed, skipped = 0.0, 0
    for _, duration, _ in full.segments:
        elapsed += duration
        if end - elapsed < boundary - 1e-6:
            break
        skipped += 1
    return skipped


@pytest.fixture(scope="module")
def long_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BroadcastPipeline]:
    storage = LocalStorage(tmp_path_factory.mktemp("delta"))
    pipeline = open_broadcast(
        "d1", SyntheticStage(1), storage, (SMALL,), timing=TIMING, realtime=False
    )
    pipeline.run_frames(FRAMES)
    yield pipeline
    pipeline.close()


def test_delta_leaves_out_old_segments_and_keeps_sequence_numbers(
    long_live: BroadcastPipeline,
) -> None:
    live = long_live.output.renditions["180p"]
    full, delta = parse(live.playlist), parse(live.delta)
    assert full.target == 2
    assert float(full.control["CAN-SKIP-UNTIL"]) == 6 * full.target == TIMING.skip_boundary
    assert full.control["CAN-BLOCK-RELOAD"] == "YES"
    assert "#EXT-X-SKIP" not in live.playlist and full.skipped == 0
    # the recorded window: ten whole segments (2..11), then parts of the twelfth
    assert [msn for msn, _, _ in full.segments] == list(range(2, 12))
    assert all(d == 2.0 for _, d, _ in full.segments)
    assert 0 < sum(full.trailing_parts) < 2.0
    # 20 s + the parts: the segments that end ≥ 12 s before the end are 2..5
    assert delta.skipped == live.skipped == expected_skip(full, 12.0) == 4
    assert delta.sequence == full.sequence == 2
    assert delta.segments == full.segments[4:]  # same numbers, durations and URIs
    assert delta.segments[0][0] == delta.sequence + delta.skipped == 6
    assert delta.head == full.head and delta.tail == full.tail and not delta.endlist
    assert delta.control == full.control
    skip_line = "#EXT-X-SKIP:SKIPPED-SEGMENTS=4"
    assert [line for line in live.delta.splitlines() if line not in live.playlist] == [skip_line]
    assert len(live.delta) < len(live.playlist)


def test_older_segments_are_listed_from_the_recording(long_live: BroadcastPipeline) -> None:
    live = long_live.output.renditions["180p"]
    first = parse(live.playlist).segments[0][0]
    assert live.segment(first) is None  # out of memory (8 segments there) ...
    assert live.segment(first + 2) is not None
    writer = long_live.output.writer
    assert writer is not None
    assert writer.storage.exists(f"d1/180p/seg_{first:06d}.m4s")  # ... and in the recording


def test_without_a_recording_the_window_is_memory_and_nothing_is_skipped() -> None:
    pipeline = open_broadcast("d2", SyntheticStage(1), None, (SMALL,), realtime=False)
    pipeline.run_frames(10 * 60 + 25)
    live = pipeline.output.renditions["180p"]
    full = parse(live.playlist)
    assert len(full.segments) == HlsTiming().window == 6
    assert full.control["CAN-SKIP-UNTIL"] == "12.0"
    assert expected_skip(full, 12.0) == live.skipped == 0
    assert live.delta == live.playlist  # the delta update of a 12-s playlist leaves nothing out
    pipeline.close()


def test_a_segment_the_recording_lost_ends_the_listed_window(tmp_path: Path) -> None:
    class Flaky(LocalStorage):
        def write_atomic(self, key: str, data: bytes) -> None:
            if key.endswith("seg_000003.m4s"):
                raise OSError(28, "No space left on device")
            super().write_atomic(key, data)

    pipeline = open_broadcast(
        "d3", SyntheticStage(1), Flaky(tmp_path), (SMALL,), timing=TIMING, realtime=False
    )
    pipeline.run_frames(FRAMES)
    live = pipeline.output.renditions["180p"]
    full = parse(live.playlist)
    # 3 left memory and was never written: the playlist starts after it, numbers still right
    assert [msn for msn, _, _ in full.segments] == list(range(4, 12))
    delta = parse(live.delta)
    assert delta.skipped == expected_skip(full, 12.0) == 2
    assert delta.segments == full.segments[2:] and delta.sequence == 4
    pipeline.close()


# --- over HTTP ------------------------------------------------------------------------------
@pytest.fixture
async def client(aiohttp_client: MakeClient, long_live: BroadcastPipeline) -> AsyncIterator[Client]:
    app = web.Application()
    registry = OutputRegistry()  # no storage here: old segments come from the output's recording
    registry.add(long_live.output)
    add_routes(app, registry)
    yield await aiohttp_client(app)


async def test_delta_over_http_with_the_live_cache_rules(
    client: Client, long_live: BroadcastPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = long_live.output.renditions["180p"]

    def render() -> None:
        raise AssertionError("a request rendered a playlist")

    monkeypatch.setattr(live, "_render", render)  # served as stored, rendered once per update
    url = "/hls/d1/180p/playlist.m3u8"
    delta = await client.get(url + "?_HLS_skip=YES")
    assert delta.status == 200
    assert delta.content_type == "application/vnd.apple.mpegurl"
    assert delta.headers["Cache-Control"] == "public, max-age=1"
    assert await delta.text() == live.delta
    full = await client.get(url)
    assert full.headers["Cache-Control"] == "public, max-age=1"
    assert await full.text() == live.playlist
    # v2 (date ranges too) is answered with the whole playlist; anything else is refused
    assert await (await client.get(url + "?_HLS_skip=v2")).text() == live.playlist
    for bad in ("yes", "NO", "1", ""):
        assert (await client.get(url + f"?_HLS_skip={bad}")).status == 400, bad
    # a listed segment that left memory is served from the recording
    first = parse(live.playlist).segments[0][0]
    old = await client.get(f"/hls/d1/180p/seg_{first:06d}.m4s")
    assert old.status == 200 and old.headers["Cache-Control"].endswith("immutable")
    writer = long_live.output.writer
    assert writer is not None
    assert await old.read() == writer.storage.read(f"d1/180p/seg_{first:06d}.m4s")


async def test_blocking_reload_with_skip_answers_the_new_delta(
    client: Client, long_live: BroadcastPipeline
) -> None:
    live = long_live.output.renditions["180p"]
    building = parse(live.playlist).segments[-1][0] + 1  # the segment still in parts
    request = asyncio.ensure_future(
        client.get(f"/hls/d1/180p/playlist.m3u8?_HLS_msn={building}&_HLS_skip=YES")
    )
    await asyncio.sleep(0.2)
    assert not request.done()
    await asyncio.to_thread(long_live.run_frames, 100)
    reply = await asyncio.wait_for(request, 10)
    delta = parse(await reply.text())
    assert building in [msn for msn, _, _ in delta.segments]  # what it waited for
    # the skip is right for the playlist of that moment: the first listed segment ends less
    # than 12 s before the end, the last skipped one (ending where it starts) at least 12 s
    after_first_start = sum(d for _, d, _ in delta.segments) + sum(delta.trailing_parts)
    assert after_first_start - delta.segments[0][1] < 12.0 <= after_first_start
    assert delta.skipped > 0


async def test_ended_broadcast_replays_whole_whatever_the_skip(
    aiohttp_client: MakeClient, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path)
    pipeline = open_broadcast(
        "d4", SyntheticStage(1), storage, (SMALL,), timing=TIMING, realtime=False
    )
    await asyncio.to_thread(pipeline.run_frames, 9 * 60)
    await asyncio.to_thread(pipeline.close)
    app = web.Application()
    registry = OutputRegistry(storage)
    registry.add(pipeline.output)
    add_routes(app, registry)
    client = await aiohttp_client(app)
    text = await (await client.get("/hls/d4/180p/playlist.m3u8?_HLS_skip=YES")).text()
    assert "#EXT-X-SKIP" not in text and "#EXT-X-PLAYLIST-TYPE:VOD" in text
    assert "seg_000000.m4s" in text
