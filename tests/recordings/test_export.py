"""MP4 export: a remux of the segments (no re-encode) that FFmpeg decodes whole, in sync."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import av
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from recordings.export import ExportError, export_chunks, stream_mp4
from recordings.http import mp4_response
from recordings.manifest import Manifest, RenditionInfo
from recordings.storage import LocalStorage
from recordings.writer import RecordingWriter
from tests.broadcast.media import av_offsets, decode
from tests.recordings.conftest import SECONDS

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


def test_mp4_decodes_every_frame_with_the_right_duration_and_sync(
    thirty_seconds: LocalStorage,
) -> None:
    data = b"".join(export_chunks(thirty_seconds, "call30"))
    assert data[4:8] == b"ftyp"
    decoded = decode(io.BytesIO(data))
    assert len(decoded.video) == SECONDS * 30
    assert [index for _, index, _, _ in decoded.video] == list(range(SECONDS * 30))
    assert abs(decoded.duration - SECONDS) <= 0.5
    assert abs(len(decoded.audio) / 48000 - SECONDS) <= 0.5
    offsets = av_offsets(decoded)
    assert len(offsets) == SECONDS
    assert max(offsets) < 0.1


def test_export_is_a_remux_not_a_re_encode(thirty_seconds: LocalStorage) -> None:
    data = b"".join(export_chunks(thirty_seconds, "call30"))
    root = Path(thirty_seconds.root) / "call30" / "180p"
    with av.open(str(root / "playlist.m3u8")) as source:
        original = [bytes(p) for p in source.demux(video=0) if p.size]
    with av.open(io.BytesIO(data)) as exported:
        copied = [bytes(p) for p in exported.demux(video=0) if p.size]
        assert exported.metadata.get("title") == "Урок 5А"
    assert copied == original


async def test_streamed_export_matches_and_starts_with_the_header(
    thirty_seconds: LocalStorage,
) -> None:
    chunks = [c async for c in stream_mp4(thirty_seconds, "call30")]
    assert len(chunks) > 10  # streamed fragment by fragment, not one blob
    assert chunks[0][4:8] == b"ftyp"
    assert b"".join(chunks) == b"".join(export_chunks(thirty_seconds, "call30"))


async def test_closing_the_stream_early_stops_the_remux(thirty_seconds: LocalStorage) -> None:
    stream = stream_mp4(thirty_seconds, "call30", max_chunks=1)
    first = await anext(stream)
    await stream.aclose()
    assert first[4:8] == b"ftyp"


def test_export_refuses_open_unknown_and_empty_recordings(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    writer = RecordingWriter(storage, Manifest("open1", renditions=(RenditionInfo("a", 2, 2, 1),)))
    writer.open()
    with pytest.raises(ExportError, match="still being written"):
        list(export_chunks(storage, "open1"))
    writer.close()
    with pytest.raises(ExportError, match="no segments"):
        list(export_chunks(storage, "open1"))
    with pytest.raises(ExportError, match="unknown"):
        list(export_chunks(storage, "missing"))


async def test_download_route(aiohttp_client: MakeClient, thirty_seconds: LocalStorage) -> None:
    async def download(request: web.Request) -> web.StreamResponse:
        return await mp4_response(request, thirty_seconds, request.match_info["rid"], "урок.mp4")

    app = web.Application()
    app.router.add_get("/rec/{rid}.mp4", download)
    client = await aiohttp_client(app)
    reply = await client.get("/rec/call30.mp4", headers={"Range": "bytes=999999999-5"})
    assert reply.status == 200
    assert reply.content_type == "video/mp4"
    assert reply.headers["Accept-Ranges"] == "none"
    disposition = reply.headers["Content-Disposition"]
    assert disposition.isascii() and "filename*=UTF-8''%D1%83%D1%80%D0%BE%D0%BA.mp4" in disposition
    assert await reply.read() == b"".join(export_chunks(thirty_seconds, "call30"))
    assert (await client.get("/rec/nope.mp4")).status == 404
    assert (await client.get("/rec/..%2Fcall30.mp4")).status == 404


async def test_download_of_a_recording_in_progress_is_a_conflict(
    aiohttp_client: MakeClient, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path)
    writer = RecordingWriter(storage, Manifest("busy", renditions=(RenditionInfo("a", 2, 2, 1),)))
    writer.open()

    async def download(request: web.Request) -> web.StreamResponse:
        return await mp4_response(request, storage, request.match_info["rid"])

    app = web.Application()
    app.router.add_get("/rec/{rid}.mp4", download)
    client = await aiohttp_client(app)
    reply = await client.get("/rec/busy.mp4")
    assert reply.status == 409 and "still being written" in await reply.text()
