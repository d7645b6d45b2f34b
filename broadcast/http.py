"""HTTP serving of broadcasts: live from memory, ended ones from the recording, same link.

Routes (prefix ``/hls/{broadcast_id}``): ``master.m3u8``; ``{rendition}/playlist.m3u8`` (LL-HLS
blocking reload with ``_HLS_msn`` / ``_HLS_part``, delta updates with ``_HLS_skip=YES``);
``{rendition}/init.mp4``;
``{rendition}/seg_000001.m4s``; ``{rendition}/seg_000001.p2.m4s`` (parts). Playlists are short-lived
in caches, media files immutable, so an nginx edge or a CDN takes the fan-out.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict

from aiohttp import web

from broadcast.hls import LiveOutput, LiveRendition, OutputRegistry
from recordings.manifest import INIT, MASTER, PLAYLIST, Manifest
from recordings.storage import BadKey, Storage, make_key, valid_id, valid_name
from recordings.writer import read_manifest

logger = logging.getLogger(__name__)

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
INIT_TYPE = "video/mp4"
SEGMENT_TYPE = "video/iso.segment"
LIVE_PLAYLIST_CACHE = "public, max-age=1"
VOD_PLAYLIST_CACHE = "public, max-age=60"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"

_SEGMENT = re.compile(r"seg_(\d{6})\.m4s")
_PART = re.compile(r"seg_(\d{6})\.p(\d{1,3})\.m4s")


class _TextCache:
    """Bounded cache of small texts read from storage (VOD playlists of ended broadcasts)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: bytes) -> None:
        self._items[key] = value
        while len(self._items) > self._size:
            self._items.popitem(last=False)


OUTPUTS = web.AppKey("urok_broadcast_outputs", OutputRegistry)
_TEXTS = web.AppKey("urok_broadcast_texts", _TextCache)


def add_routes(app: web.Application, outputs: OutputRegistry, prefix: str = "/hls") -> None:
    """Serve every output of ``outputs`` (and ended broadcasts from its storage) on ``app``."""
    app[OUTPUTS] = outputs
    app[_TEXTS] = _TextCache()
    app.router.add_get(prefix + "/{broadcast_id}/master.m3u8", _master)
    app.router.add_get(prefix + "/{broadcast_id}/{rendition}/{name}", _media)


def _ids(request: web.Request) -> tuple[str, str | None, str | None]:
    bid = request.match_info["broadcast_id"]
    rendition = request.match_info.get("rendition")
    name = request.match_info.get("name")
    ok = valid_id(bid) and (rendition is None or valid_id(rendition))
    if not ok or (name is not None and not valid_name(name)):
        raise web.HTTPNotFound(headers={"Cache-Control": NO_CACHE})
    return bid, rendition, name


def _reply(body: bytes | str, content_type: str, cache: str) -> web.Response:
    data = body.encode() if isinstance(body, str) else body
    return web.Response(body=data, content_type=content_type, headers={"Cache-Control": cache})


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(headers={"Cache-Control": NO_CACHE})


def _live(request: web.Request, bid: str) -> LiveOutput | None:
    """The live output, unless it ended and its recording can replay it from the start."""
    output = request.app[OUTPUTS].get(bid)
    if output is None:
        return None
    if output.ended and output.writer is not None and request.app[OUTPUTS].storage is not None:
        return None
    return output


async def _master(request: web.Request) -> web.StreamResponse:
    bid, _, _ = _ids(request)
    output = _live(request, bid)
    if output is not None:
        return _reply(output.master(), PLAYLIST_TYPE, LIVE_PLAYLIST_CACHE)
    text = await _stored_text(request, bid, MASTER)
    return _reply(text, PLAYLIST_TYPE, VOD_PLAYLIST_CACHE)


async def _media(request: web.Request) -> web.StreamResponse:
    bid, rendition, name = _ids(request)
    assert rendition is not None and name is not None
    output = _live(request, bid)
    live = output.renditions.get(rendition) if output is not None else None
    if output is not None and live is not None:
        return await _live_media(request, output, live, name)
    if name == PLAYLIST:
        text = await _stored_text(request, bid, rendition, PLAYLIST)
        return _reply(text, PLAYLIST_TYPE, VOD_PLAYLIST_CACHE)
    return await _stored_file(request, bid, rendition, name)


async def _live_media(
    request: web.Request, output: LiveOutput, live: LiveRendition, name: str
) -> web.StreamResponse:
    if name == PLAYLIST:
        delta = _wants_delta(request)
        await _block_for(request, output, live)
        # the delta is its own URL (the query differs), so it caches like the playlist
        return _reply(live.delta if delta else live.playlist, PLAYLIST_TYPE, LIVE_PLAYLIST_CACHE)
    if name == INIT:
        if live.init is None:
            raise _not_found()
        return _reply(live.init, INIT_TYPE, IMMUTABLE)
    data = _live_bytes(live, name) or await _upcoming_part(output, live, name)
    if data is not None:
        return _reply(data, SEGMENT_TYPE, IMMUTABLE)
    # it left the memory window: the recording the output writes serves it
    storage = output.writer.storage if output.writer is not None else None
    return await _stored_file(request, output.id, live.spec.name, name, storage)


async def _upcoming_part(output: LiveOutput, live: LiveRendition, name: str) -> bytes | None:
    """LL-HLS preload hint: hold a request for the next part until the muxer writes it."""
    match = _PART.fullmatch(name)
    if match is None:
        return None
    seq, index = int(match.group(1)), int(match.group(2))
    if not live.is_upcoming(seq, index):
        return None
    await output.wait_for(live.spec.name, seq, index, 3 * output.timing.part_target)
    return live.part(seq, index)


def _live_bytes(live: LiveRendition, name: str) -> bytes | None:
    if match := _SEGMENT.fullmatch(name):
        return live.segment(int(match.group(1)))
    if match := _PART.fullmatch(name):
        return live.part(int(match.group(1)), int(match.group(2)))
    return None


def _int_param(request: web.Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise web.HTTPBadRequest(text=f"bad {key}")
    return int(raw)


def _wants_delta(request: web.Request) -> bool:
    """``_HLS_skip=YES`` asks for the delta update. ``v2`` (skip date ranges too) is answered
    with the whole playlist, always a valid answer: we advertise no CAN-SKIP-DATERANGES."""
    raw = request.query.get("_HLS_skip")
    if raw not in (None, "YES", "v2"):
        raise web.HTTPBadRequest(text="bad _HLS_skip")
    return raw == "YES"


async def _block_for(request: web.Request, output: LiveOutput, live: LiveRendition) -> None:
    """LL-HLS blocking playlist reload: hold the request until the asked segment/part exists."""
    msn = _int_param(request, "_HLS_msn")
    part = _int_param(request, "_HLS_part")
    if msn is None:
        if part is not None:
            raise web.HTTPBadRequest(text="_HLS_part without _HLS_msn")
        return
    if msn > live.next_msn() + 2:
        raise web.HTTPBadRequest(text="_HLS_msn too far in the future")
    max_wait = 3 * output.timing.segment_seconds
    if not await output.wait_for(live.spec.name, msn, part, max_wait):
        raise web.HTTPServiceUnavailable(headers={"Cache-Control": NO_CACHE})


def _storage(request: web.Request) -> Storage:
    storage = request.app[OUTPUTS].storage
    if storage is None:
        raise _not_found()
    return storage


async def _stored_text(request: web.Request, bid: str, *parts: str) -> bytes:
    storage = _storage(request)
    key = make_key(bid, *parts)
    cached = request.app[_TEXTS].get(key)
    if cached is not None and await asyncio.to_thread(storage.exists, key):
        return cached  # one stat: a deleted recording stops replaying at once
    manifest = await _finished_manifest(storage, bid)
    if manifest is None or not await asyncio.to_thread(storage.exists, key):
        raise _not_found()
    text = await asyncio.to_thread(storage.read, key)
    request.app[_TEXTS].put(key, text)
    return text


async def _finished_manifest(storage: Storage, bid: str) -> Manifest | None:
    """Only a closed recording replays: an open one belongs to a live output somewhere."""
    try:
        manifest = await asyncio.to_thread(read_manifest, storage, bid)
    except (OSError, ValueError, TypeError, KeyError, BadKey):
        return None
    return None if manifest.status == "recording" else manifest


async def _stored_file(
    request: web.Request, bid: str, rendition: str, name: str, storage: Storage | None = None
) -> web.StreamResponse:
    storage = storage if storage is not None else _storage(request)
    if name != INIT and not (_SEGMENT.fullmatch(name)):
        raise _not_found()
    key = make_key(bid, rendition, name)
    if not await asyncio.to_thread(storage.exists, key):
        raise _not_found()
    content_type = INIT_TYPE if name == INIT else SEGMENT_TYPE
    # Read whole (a segment is ~1 MB at most), not web.FileResponse: a player that aborts while
    # aiohttp opens the file in its executor leaves that file to the garbage collector.
    return _ranged(request, await asyncio.to_thread(storage.read, key), content_type)


def _ranged(request: web.Request, data: bytes, content_type: str) -> web.Response:
    """The whole body, or the byte range asked for (206; 416 when it starts past the end)."""
    size = len(data)
    try:
        wanted = request.http_range
    except ValueError:
        wanted = slice(None, None)
    if wanted.start is None and wanted.stop is None:
        resp = _reply(data, content_type, IMMUTABLE)
        resp.headers["Accept-Ranges"] = "bytes"
        return resp
    start, stop, _ = wanted.indices(size)
    if (wanted.start or 0) >= size or start >= stop:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    resp = web.Response(
        status=206,
        body=data[start:stop],
        content_type=content_type,
        headers={
            "Cache-Control": IMMUTABLE,
            "Accept-Ranges": "bytes",
            "Content-Range": f"bytes {start}-{stop - 1}/{size}",
        },
    )
    return resp
