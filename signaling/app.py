"""The aiohttp application factory: routes, and the services that start and stop with it."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from broadcast.hls import OutputRegistry
from broadcast.http import add_routes as add_hls_routes
from recordings.recovery import recover
from recordings.storage import LocalStorage
from sfu.api import MediaBackend, NoMedia
from sfu.server import SFU
from signaling import audience, calendar, library, openapi, rest, whep, whip
from signaling.config import Settings, secret_from_data_dir
from signaling.hub import Hub
from signaling.recording import Recorder, RecordingInfo
from signaling.records import Repo
from signaling.state import StateStore, open_store
from signaling.studio import PRESETS, StudioRecorder
from signaling.supervisor import HTTP, SUPERVISOR, Supervisor, front_websocket, proxy_to_room_worker
from signaling.ws import HUB, websocket

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SETTINGS = web.AppKey("settings", Settings)
OUTPUTS_KEY = web.AppKey("hls_outputs", OutputRegistry)


def create_app(
    settings: Settings,
    *,
    media: MediaBackend | None = None,
    store: StateStore | None = None,
    recorder: Recorder | None = None,
) -> web.Application:
    """Build the app; the store, the hub and the media backend open in cleanup_ctx."""
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    secret, keys = secret_from_data_dir(settings)
    app[rest.API_KEYS] = keys
    storage = LocalStorage(settings.data_dir / "recordings")
    app[library.STORAGE] = storage
    app[OUTPUTS_KEY] = OutputRegistry(storage)

    front = settings.workers > 1 and settings.worker_index < 0

    async def services(app: web.Application) -> AsyncIterator[None]:
        state = store or await open_store(settings.state, settings.state_prefix)
        if settings.worker_index < 0:  # the node's first process: before any recording starts
            closed = await asyncio.to_thread(recover, storage)
            if closed:
                logger.warning("closed %d interrupted recordings", len(closed))
        if front:
            media_backend: MediaBackend = NoMedia()
            sup = Supervisor(settings, state)
            app[SUPERVISOR] = sup
            app[HTTP] = aiohttp.ClientSession()
            await sup.start([])
        else:
            media_backend = media or default_media(settings)
        hub = Hub(settings, secret, Repo(state), media_backend, recorder)
        if recorder is None and isinstance(media_backend, SFU):
            hub.recorder = _studio(app, hub, media_backend)
        app[HUB] = hub
        hub.start()
        sweeper = asyncio.get_running_loop().create_task(_sweep_forever(app))
        logger.info("urok ready on %s (state: %s)", settings.base_url(), settings.state)
        yield
        sweeper.cancel()
        await hub.close()
        if front:
            await app[SUPERVISOR].close()
            await app[HTTP].close()
        if store is None:
            await state.close()

    app.cleanup_ctx.append(services)
    _routes(app, front)
    return app


def _studio(app: web.Application, hub: Hub, sfu: SFU) -> StudioRecorder:
    """The recorder: the compositor subscribed to the room, filing takes in the library."""

    async def started(info: RecordingInfo, rid: str) -> None:
        entry = library.RecordingEntry(
            id=rid,
            room=info.room_id,
            org=info.org,
            group=info.group,
            owner=info.owner,
            kind=info.kind,
            public=info.public,
            created_at=time.time(),
        )
        await library.save_entry(app, entry)

    async def ready(info: RecordingInfo, rid: str) -> None:
        hub.webhooks.emit(
            "recording_ready",
            info.org,
            info.room_id,
            recording=rid,
            title=info.title,
            playlist=f"/hls/{rid}/master.m3u8",
            download=f"/api/library/{rid}/download.mp4",
        )

    specs = tuple(PRESETS[name] for name in hub.settings.renditions)
    return StudioRecorder(sfu, app[library.STORAGE], app[OUTPUTS_KEY], specs, started, ready)


async def _sweep_forever(app: web.Application) -> None:
    """Apply each school's retention once an hour."""
    while True:
        try:
            removed = await library.sweep(app)
            if removed:
                logger.info("retention removed %d recordings", len(removed))
        except Exception:
            logger.exception("retention sweep failed")
        await asyncio.sleep(3600)


def default_media(settings: Settings) -> MediaBackend:
    """The in-process SFU (one ICE-lite UDP port), or none with ``media = false``."""
    if not settings.media:
        return NoMedia()
    from sfu.server import SFU

    return SFU(
        ice_addresses=settings.ice_addresses,
        port_min=settings.udp_port_min,
        port_max=settings.udp_port_max,
        turn_urls=settings.turn_urls,
        turn_secret=settings.turn_secret,
        turn_ttl_s=settings.turn_ttl_s,
        egress=settings.media_egress and settings.workers <= 1 and (os.cpu_count() or 1) > 1,
        egress_share=settings.media_egress_share,
    )


def _routes(app: web.Application, front: bool) -> None:
    app[audience.QA_CACHE] = {}
    routes = [*rest.ROUTES, *audience.ROUTES, *library.ROUTES]
    if front:  # rooms live on workers: the socket, WHIP and HLS go to the room's worker
        routes += [
            (method, path, proxy_to_room_worker) for method, path, _ in whip.ROUTES + whep.ROUTES
        ]
        routes.append(("GET", "/hls/{broadcast_id}/{tail:.*}", proxy_to_room_worker))
    else:
        routes += whip.ROUTES + whep.ROUTES
        whep.setup(app)
        add_hls_routes(app, app[OUTPUTS_KEY])
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.router.add_post("/api/calendar/link", calendar.feed_link)
    app.router.add_get("/calendar/{token}.ics", calendar.feed)
    app.router.add_get("/api/openapi.json", _openapi)
    app.router.add_get("/healthz", rest.health)
    app.router.add_get("/metrics", rest.metrics)
    app.router.add_get("/ws", front_websocket if front else websocket)
    app.router.add_get("/r/{room_id}", _page("room.html"))
    app.router.add_get("/b/{room_id}", _page("watch.html"))  # a broadcast's public viewer page
    app.router.add_get("/i/{invite_id}", _page("invite.html"))  # an invite link
    app.router.add_get("/console", _page("console.html"))
    app.router.add_get("/library", _page("library.html"))
    app.router.add_get("/", _page("index.html"))
    if WEB_DIR.is_dir():
        app.router.add_static("/static/", WEB_DIR, follow_symlinks=False, append_version=False)


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


def _page(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        path = WEB_DIR / name
        if not path.is_file():
            raise web.HTTPNotFound(text=f"{name} is not installed")
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    return serve
