"""The school's video library (Видео школы) over REST: who may see, rename, delete, download.

recordings/ keeps the files (segments, manifest, MP4 remux, thumbnails); this module keeps who a
recording belongs to (``rec:{id}`` in the StateStore, written when it starts) and decides access:
a class's lesson is visible to that class's members and the school's staff; a broadcast to
whoever could watch it; renaming and deleting are for the school's admin or the owner.
Browsers fetch downloads and thumbnails by link, so those also take ``?token=``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta, Struct

from recordings import library as files
from recordings.http import mp4_response
from recordings.manifest import Manifest
from recordings.storage import Storage, valid_id
from recordings.writer import read_manifest
from signaling import auth
from signaling.rest import API_KEYS, body_of, fail, reply
from signaling.ws import HUB

logger = logging.getLogger(__name__)
STORAGE = web.AppKey("recordings_storage", Storage)


class RecordingEntry(Struct, frozen=True):
    """Who a recording belongs to (the files say what it is)."""

    id: str
    room: str
    org: str | None
    group: str | None
    owner: str | None
    kind: str  # "call" | "broadcast"
    public: bool  # a broadcast anyone with the link could watch
    created_at: float


class LibraryItem(Struct, frozen=True):
    id: str
    room: str
    title: str
    kind: str
    group: str | None
    created_at: float
    duration_s: float
    size_bytes: int
    status: Literal["recording", "complete", "interrupted"]
    playlist: str
    thumbnail: str
    download: str
    can_manage: bool


class LibraryList(Struct, frozen=True):
    recordings: list[LibraryItem]


class Rename(Struct, frozen=True, forbid_unknown_fields=True):
    title: Annotated[str, Meta(min_length=1, max_length=200)]


class Retention(Struct, frozen=True, forbid_unknown_fields=True):
    days: Annotated[int, Meta(ge=1, le=3650)] | None  # None keeps recordings forever


class RetentionView(Struct, frozen=True):
    org: str
    days: int | None


async def save_entry(app: web.Application, entry: RecordingEntry) -> None:
    """Called when a recording starts (by the recorder's glue)."""
    store = app[HUB].repo.store
    await store.set(f"rec:{entry.id}", msgspec.json.encode(entry))
    await store.sadd("recs", entry.id)


class Viewer(Struct, frozen=True):
    """Who asks: an API key (everything) or a token's identity."""

    api: bool
    ident: auth.Identity | None = None


def _viewer(request: web.Request) -> Viewer:
    header = request.headers.get("Authorization", "")
    credential = header[7:].strip() if header.startswith("Bearer ") else request.query.get("token")
    if not credential:
        raise fail(401, "unauthorized", "send a token")
    if any(secrets.compare_digest(credential, key) for key in request.app[API_KEYS]):
        return Viewer(api=True)
    try:
        return Viewer(api=False, ident=auth.verify(request.app[HUB].secret, credential))
    except auth.AuthError as exc:
        raise fail(401, exc.code, exc.message) from None


def can_see(who: Viewer, entry: RecordingEntry) -> bool:
    if who.api:
        return True
    ident = who.ident
    assert ident is not None
    if entry.kind == "broadcast" and entry.public:
        return True
    if ident.org != entry.org:
        return False
    if ident.role in ("admin", "teacher") or entry.kind == "broadcast":
        return True
    return entry.group is not None and ident.group == entry.group


def can_manage(who: Viewer, entry: RecordingEntry) -> bool:
    if who.api:
        return True
    ident = who.ident
    assert ident is not None
    if ident.role == "admin" and ident.org == entry.org:
        return True
    return entry.owner is not None and ident.user_id == entry.owner


async def _entry(request: web.Request) -> RecordingEntry:
    rid = request.match_info["recording_id"]
    raw = None if not valid_id(rid) else await request.app[HUB].repo.store.get(f"rec:{rid}")
    if raw is None:
        raise fail(404, "recording_not_found", "no such recording")
    return msgspec.json.decode(raw, type=RecordingEntry)


async def _visible(request: web.Request) -> tuple[Viewer, RecordingEntry]:
    who = _viewer(request)
    entry = await _entry(request)
    if not can_see(who, entry):
        raise fail(404, "recording_not_found", "no such recording")
    return who, entry


async def _manifest(request: web.Request, rid: str) -> Manifest | None:
    try:
        return await asyncio.to_thread(read_manifest, request.app[STORAGE], rid)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _item(who: Viewer, entry: RecordingEntry, manifest: Manifest) -> LibraryItem:
    base = f"/api/library/{entry.id}"
    return LibraryItem(
        id=entry.id,
        room=entry.room,
        title=manifest.title,
        kind=entry.kind,
        group=entry.group,
        created_at=entry.created_at,
        duration_s=round(manifest.duration, 3),
        size_bytes=sum(r.size for r in manifest.renditions),
        status=manifest.status,
        playlist=f"/hls/{entry.id}/master.m3u8",
        thumbnail=f"{base}/thumbnail.jpg",
        download=f"{base}/download.mp4",
        can_manage=can_manage(who, entry),
    )


async def list_library(request: web.Request) -> web.Response:
    who = _viewer(request)
    store = request.app[HUB].repo.store
    items: list[LibraryItem] = []
    for rid in sorted(await store.smembers("recs")):
        raw = await store.get(f"rec:{rid}")
        if raw is None:
            continue
        entry = msgspec.json.decode(raw, type=RecordingEntry)
        if not can_see(who, entry):
            continue
        manifest = await _manifest(request, rid)
        if manifest is not None:
            items.append(_item(who, entry, manifest))
    items.sort(key=lambda i: i.created_at, reverse=True)
    return reply(LibraryList(recordings=items))


async def get_recording(request: web.Request) -> web.Response:
    who, entry = await _visible(request)
    manifest = await _manifest(request, entry.id)
    if manifest is None:
        raise fail(404, "recording_not_found", "the recording's files are gone")
    return reply(_item(who, entry, manifest))


async def rename(request: web.Request) -> web.Response:
    who, entry = await _visible(request)
    if not can_manage(who, entry):
        raise fail(403, "not_allowed", "only the school's administrator or the owner")
    body = await body_of(request, Rename)
    try:
        manifest = await asyncio.to_thread(files.rename, request.app[STORAGE], entry.id, body.title)
    except files.RecordingBusy:
        raise fail(409, "recording_in_progress", "the recording is still being made") from None
    return reply(_item(who, entry, manifest))


async def delete(request: web.Request) -> web.Response:
    who, entry = await _visible(request)
    if not can_manage(who, entry):
        raise fail(403, "not_allowed", "only the school's administrator or the owner")
    try:
        await _remove(request.app, entry.id)
    except files.RecordingBusy:
        raise fail(409, "recording_in_progress", "the recording is still being made") from None
    return web.Response(status=204)


async def _remove(app: web.Application, rid: str) -> None:
    try:
        await asyncio.to_thread(files.delete, app[STORAGE], rid)
    except (OSError, KeyError, ValueError):
        logger.warning("recording %s: files already gone", rid)
    store = app[HUB].repo.store
    await store.delete(f"rec:{rid}")
    await store.srem("recs", rid)


async def download(request: web.Request) -> web.StreamResponse:
    _, entry = await _visible(request)
    manifest = await _manifest(request, entry.id)
    title = manifest.title if manifest and manifest.title else entry.id
    return await mp4_response(request, request.app[STORAGE], entry.id, f"{title}.mp4")


async def thumbnail(request: web.Request) -> web.Response:
    _, entry = await _visible(request)
    try:
        jpeg = await asyncio.to_thread(files.thumbnail, request.app[STORAGE], entry.id)
    except (OSError, ValueError, KeyError):
        raise fail(404, "no_thumbnail", "the recording has no picture yet") from None
    return web.Response(
        body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"}
    )


async def set_retention(request: web.Request) -> web.Response:
    org = _org_admin(request)
    body = await body_of(request, Retention)
    store = request.app[HUB].repo.store
    if body.days is None:
        await store.delete(f"retention:{org}")
    else:
        await store.set(f"retention:{org}", str(body.days).encode())
    return reply(RetentionView(org=org, days=body.days))


def _org_admin(request: web.Request) -> str:
    who = _viewer(request)
    org = request.match_info["org"]
    if who.api or (who.ident and who.ident.role == "admin" and who.ident.org == org):
        return org
    raise fail(403, "not_allowed", "only an API key or this school's administrator")


async def sweep(app: web.Application, now: float | None = None) -> list[str]:
    """Delete finished recordings older than their organisation's retention; returns ids."""
    store = app[HUB].repo.store
    moment = now if now is not None else time.time()
    removed: list[str] = []
    for rid in sorted(await store.smembers("recs")):
        raw = await store.get(f"rec:{rid}")
        if raw is None:
            continue
        entry = msgspec.json.decode(raw, type=RecordingEntry)
        days = await store.get(f"retention:{entry.org}") if entry.org else None
        if days is None or entry.created_at > moment - int(days) * 86400:
            continue
        try:
            await _remove(app, rid)
        except files.RecordingBusy:
            continue
        removed.append(rid)
    return removed


ROUTES = [
    ("GET", "/api/library", list_library),
    ("GET", "/api/library/{recording_id}", get_recording),
    ("PATCH", "/api/library/{recording_id}", rename),
    ("DELETE", "/api/library/{recording_id}", delete),
    ("GET", "/api/library/{recording_id}/download.mp4", download),
    ("GET", "/api/library/{recording_id}/thumbnail.jpg", thumbnail),
    ("PUT", "/api/orgs/{org}/retention", set_retention),
]
