"""Serving HLS over aiohttp: content types, cache headers, blocking reload, traversal."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from broadcast.hls import OutputRegistry
from broadcast.http import IMMUTABLE, add_routes
from broadcast.pipeline import BroadcastPipeline, open_broadcast
from broadcast.synthetic import SyntheticStage
from recordings.storage import LocalStorage
from tests.broadcast.conftest import SMALL, Recorded

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[BroadcastPipeline]:
    storage = LocalStorage(tmp_path)
    pipeline = open_broadcast("live1", SyntheticStage(2), storage, (SMALL,), realtime=False)
    await asyncio.to_thread(pipeline.run_frames, 140)
    yield pipeline
    await asyncio.to_thread(pipeline.close)


async def serve(aiohttp_client: MakeClient, registry: OutputRegistry) -> Client:
    app = web.Application()
    add_routes(app, registry)
    return await aiohttp_client(app)


async def test_live_playlists_come_from_memory_with_short_cache(
    aiohttp_client: MakeClient, live: BroadcastPipeline
) -> None:
    registry = OutputRegistry(live.output.writer.storage if live.output.writer else None)
    registry.add(live.output)
    client = await serve(aiohttp_client, registry)
    master = await client.get("/hls/live1/master.m3u8")
    assert master.status == 200
    assert master.content_type == "application/vnd.apple.mpegurl"
    assert master.headers["Cache-Control"] == "public, max-age=1"
    assert "180p/playlist.m3u8" in await master.text()
    media = await client.get("/hls/live1/180p/playlist.m3u8")
    assert media.content_type == "application/vnd.apple.mpegurl"
    assert await media.text() == live.output.renditions["180p"].playlist


async def test_live_media_is_immutable_with_correct_types(
    aiohttp_client: MakeClient, live: BroadcastPipeline
) -> None:
    registry = OutputRegistry()
    registry.add(live.output)
    client = await serve(aiohttp_client, registry)
    init = await client.get("/hls/live1/180p/init.mp4")
    assert init.status == 200 and init.content_type == "video/mp4"
    assert init.headers["Cache-Control"] == IMMUTABLE
    segment = await client.get("/hls/live1/180p/seg_000001.m4s")
    assert segment.status == 200 and segment.content_type == "video/iso.segment"
    assert segment.headers["Cache-Control"] == IMMUTABLE
    assert await segment.read() == live.output.renditions["180p"].segment(1)
    part = await client.get("/hls/live1/180p/seg_000002.p0.m4s")
    assert part.status == 200 and part.content_type == "video/iso.segment"
    assert (await client.get("/hls/live1/180p/seg_000009.m4s")).status == 404


async def test_blocking_reload_waits_for_the_asked_segment(
    aiohttp_client: MakeClient, live: BroadcastPipeline
) -> None:
    registry = OutputRegistry()
    registry.add(live.output)
    client = await serve(aiohttp_client, registry)
    request = asyncio.ensure_future(
        client.get("/hls/live1/180p/playlist.m3u8?_HLS_msn=3&_HLS_part=1")
    )
    await asyncio.sleep(0.2)
    assert not request.done()  # segment 3 part 1 does not exist yet
    await asyncio.to_thread(live.run_frames, 90)
    reply = await asyncio.wait_for(request, 10)
    text = await reply.text()
    assert reply.status == 200
    assert 'URI="seg_000003.p1.m4s"' in text


async def test_blocking_reload_rejects_bad_and_far_requests(
    aiohttp_client: MakeClient, live: BroadcastPipeline
) -> None:
    registry = OutputRegistry()
    registry.add(live.output)
    client = await serve(aiohttp_client, registry)
    for query in ("_HLS_msn=x", "_HLS_msn=-1", "_HLS_part=1", "_HLS_msn=99"):
        reply = await client.get(f"/hls/live1/180p/playlist.m3u8?{query}")
        assert reply.status == 400, query
    done = await client.get("/hls/live1/180p/playlist.m3u8?_HLS_msn=1")
    assert done.status == 200


async def test_ended_broadcast_replays_from_the_recording(
    aiohttp_client: MakeClient, recorded: Recorded
) -> None:
    registry = OutputRegistry(recorded.storage)
    registry.add(recorded.pipeline.output)  # ended, but still registered
    client = await serve(aiohttp_client, registry)
    master = await client.get("/hls/synthetic/master.m3u8")
    assert master.status == 200 and "180p/playlist.m3u8" in await master.text()
    media = await client.get("/hls/synthetic/180p/playlist.m3u8")
    text = await media.text()
    assert media.content_type == "application/vnd.apple.mpegurl"
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert "seg_000000.m4s" in text  # from the start, not a live window
    segment = await client.get("/hls/synthetic/180p/seg_000000.m4s")
    assert segment.status == 200 and segment.content_type == "video/iso.segment"
    assert segment.headers["Cache-Control"] == IMMUTABLE
    disk = (recorded.root / "synthetic" / "180p" / "seg_000000.m4s").read_bytes()
    assert await segment.read() == disk


@pytest.mark.parametrize(
    "path",
    [
        "/hls/synthetic/180p/manifest.json",
        "/hls/synthetic/180p/index.jsonl",
        "/hls/synthetic/180p/..%2F..%2Fmanifest.json",
        "/hls/synthetic/..%2F180p/seg_000000.m4s",
        "/hls/..%2Fsynthetic/master.m3u8",
        "/hls/synthetic/180p/.tmp-x.m4s",
        "/hls/synthetic/180p/seg_1.m4s",
        "/hls/nope/master.m3u8",
        "/hls/nope/180p/playlist.m3u8",
    ],
)
async def test_traversal_and_unknown_names_are_not_found(
    aiohttp_client: MakeClient, recorded: Recorded, path: str
) -> None:
    client = await serve(aiohttp_client, OutputRegistry(recorded.storage))
    reply = await client.get(path)
    assert reply.status == 404
    assert reply.headers.get("Cache-Control") == "no-cache"


async def test_preload_hinted_part_is_held_until_written(
    aiohttp_client: MakeClient, live: BroadcastPipeline
) -> None:
    registry = OutputRegistry()
    registry.add(live.output)
    client = await serve(aiohttp_client, registry)
    playlist = await (await client.get("/hls/live1/180p/playlist.m3u8")).text()
    hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\S+)"', playlist)
    assert hint is not None and hint.group(1) == "seg_000002.p1.m4s"  # 140 frames: p0 is out
    request = asyncio.ensure_future(client.get(f"/hls/live1/180p/{hint.group(1)}"))
    await asyncio.sleep(0.2)
    assert not request.done()
    await asyncio.to_thread(live.run_frames, 20)
    reply = await asyncio.wait_for(request, 10)
    assert reply.status == 200
    assert await reply.read() == live.output.renditions["180p"].part(2, 1)
    far = await client.get("/hls/live1/180p/seg_000009.p0.m4s")
    assert far.status == 404  # not the next part: no waiting


async def test_ranges_on_recorded_segments(aiohttp_client: MakeClient, recorded: Recorded) -> None:
    client = await serve(aiohttp_client, OutputRegistry(recorded.storage))
    path = "/hls/synthetic/180p/seg_000000.m4s"
    disk = (recorded.root / "synthetic" / "180p" / "seg_000000.m4s").read_bytes()
    part = await client.get(path, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and await part.read() == disk[10:20]
    beyond = await client.get(path, headers={"Range": f"bytes={len(disk) + 10}-"})
    assert beyond.status == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(disk)}"
    tail = await client.get(path, headers={"Range": "bytes=-4"})
    assert tail.status == 206 and await tail.read() == disk[-4:]
    assert tail.headers["Content-Range"] == f"bytes {len(disk) - 4}-{len(disk) - 1}/{len(disk)}"
    whole = await client.get(path, headers={"Range": "bytes=nonsense"})
    assert whole.status == 200 and await whole.read() == disk


async def test_a_deleted_recording_stops_replaying(
    aiohttp_client: MakeClient, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path)
    pipeline = open_broadcast("gone", SyntheticStage(1), storage, (SMALL,), realtime=False)
    await asyncio.to_thread(pipeline.run_frames, 30)
    await asyncio.to_thread(pipeline.close)
    client = await serve(aiohttp_client, OutputRegistry(storage))
    assert (await client.get("/hls/gone/180p/playlist.m3u8")).status == 200  # now cached
    storage.delete_recording("gone")
    assert (await client.get("/hls/gone/180p/playlist.m3u8")).status == 404
    assert (await client.get("/hls/gone/master.m3u8")).status == 404
