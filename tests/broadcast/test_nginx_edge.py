"""The shipped nginx edge (real /usr/sbin/nginx) in front of the aiohttp origin."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from broadcast.edge import EDGE_CONF, NginxEdge, render
from broadcast.hls import OutputRegistry
from broadcast.http import IMMUTABLE, add_routes
from broadcast.pipeline import open_broadcast
from broadcast.synthetic import SyntheticStage
from tests.broadcast.conftest import SMALL, Recorded

MakeServer = Callable[[web.Application], Awaitable[TestServer]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def origin(
    aiohttp_server: MakeServer, recorded: Recorded
) -> AsyncIterator[tuple[TestServer, Counter[str]]]:
    seen: Counter[str] = Counter()

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        seen[request.path_qs] += 1
        await asyncio.sleep(0.2)  # a slow origin: concurrent misses overlap at the edge
        return await handler(request)

    app = web.Application(middlewares=[count])
    add_routes(app, OutputRegistry(recorded.storage))
    server = await aiohttp_server(app)
    yield server, seen


@pytest.fixture
def edge_factory(tmp_path: Path) -> Iterator[Callable[[int], NginxEdge]]:
    started: list[NginxEdge] = []

    def make(origin_port: int) -> NginxEdge:
        edge = NginxEdge(tmp_path / "nginx", f"127.0.0.1:{origin_port}", free_port())
        edge.start()
        started.append(edge)
        return edge

    yield make
    for edge in started:
        edge.stop()


async def _get_many(url: str, count: int) -> list[tuple[int, bytes, dict[str, str]]]:
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[int, bytes, dict[str, str]]:
            async with session.get(url) as reply:
                return reply.status, await reply.read(), dict(reply.headers)

        return await asyncio.gather(*(one() for _ in range(count)))


async def test_many_concurrent_requests_for_one_segment_reach_the_origin_once(
    origin: tuple[TestServer, Counter[str]],
    edge_factory: Callable[[int], NginxEdge],
    recorded: Recorded,
) -> None:
    server, seen = origin
    edge = edge_factory(server.port)  # type: ignore[arg-type]
    path = "/hls/synthetic/180p/seg_000001.m4s"
    replies = await _get_many(edge.url + path, 200)
    disk = (recorded.root / "synthetic" / "180p" / "seg_000001.m4s").read_bytes()
    assert all(status == 200 and body == disk for status, body, _ in replies)
    assert seen[path] == 1
    headers = replies[0][2]
    assert headers["Cache-Control"] == IMMUTABLE
    assert headers["Content-Type"] == "video/iso.segment"
    again = await _get_many(edge.url + path, 1)
    assert again[0][2]["X-Cache-Status"] == "HIT" and seen[path] == 1


async def test_playlists_are_collapsed_and_kept_while_fresh(
    origin: tuple[TestServer, Counter[str]], edge_factory: Callable[[int], NginxEdge]
) -> None:
    server, seen = origin
    edge = edge_factory(server.port)  # type: ignore[arg-type]
    path = "/hls/synthetic/master.m3u8"
    replies = await _get_many(edge.url + path, 100)
    assert all(status == 200 for status, _, _ in replies)
    assert replies[0][2]["Content-Type"] == "application/vnd.apple.mpegurl"
    assert seen[path] == 1
    await asyncio.sleep(2.1)  # the VOD master is "max-age=60": still fresh
    await _get_many(edge.url + path, 5)
    assert seen[path] == 1
    media = "/hls/synthetic/180p/playlist.m3u8"
    await _get_many(edge.url + media, 50)
    assert seen[media] == 1


async def test_errors_are_not_cached(
    origin: tuple[TestServer, Counter[str]], edge_factory: Callable[[int], NginxEdge]
) -> None:
    server, seen = origin
    edge = edge_factory(server.port)  # type: ignore[arg-type]
    path = "/hls/synthetic/180p/seg_000099.m4s"
    for _ in range(3):
        ((status, _, _),) = await _get_many(edge.url + path, 1)
        assert status == 404
    assert seen[path] == 3
    ((status, _, _),) = await _get_many(edge.url + "/etc/passwd", 1)
    assert status == 404


def test_render_keeps_the_shipped_rules() -> None:
    text = render("10.0.0.5:8080", 8081, Path("/tmp/c"))
    assert "proxy_cache_lock on;" in text
    assert "server 10.0.0.5:8080;" in text and "listen 127.0.0.1:8081" in text
    assert "proxy_ignore_headers" not in EDGE_CONF.read_text()  # the origin's headers rule


async def test_live_playlist_is_refetched_after_one_second(
    aiohttp_server: MakeServer, edge_factory: Callable[[int], NginxEdge], tmp_path: Path
) -> None:
    pipeline = open_broadcast("edgelive", SyntheticStage(1), None, (SMALL,), realtime=False)
    await asyncio.to_thread(pipeline.run_frames, 80)  # segment 0 is out once 1.p0 starts
    registry = OutputRegistry()
    registry.add(pipeline.output)
    seen: Counter[str] = Counter()

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        seen[request.path] += 1
        return await handler(request)

    app = web.Application(middlewares=[count])
    add_routes(app, registry)
    server = await aiohttp_server(app)
    edge = edge_factory(server.port)  # type: ignore[arg-type]
    path = "/hls/edgelive/180p/playlist.m3u8"
    first = await _get_many(edge.url + path, 20)
    assert seen[path] == 1 and "seg_000000.m4s" in first[0][1].decode()
    await asyncio.to_thread(pipeline.run_frames, 70)
    await asyncio.sleep(1.6)  # "max-age=1" has passed
    (later,) = await _get_many(edge.url + path, 1)
    assert seen[path] == 2 and "seg_000001.m4s" in later[1].decode()
    await asyncio.to_thread(pipeline.close)


async def test_blocking_reloads_through_the_edge_reach_the_origin_once(
    aiohttp_server: MakeServer, edge_factory: Callable[[int], NginxEdge]
) -> None:
    pipeline = open_broadcast("edgell", SyntheticStage(1), None, (SMALL,), realtime=False)
    await asyncio.to_thread(pipeline.run_frames, 80)
    registry = OutputRegistry()
    registry.add(pipeline.output)
    seen: Counter[str] = Counter()

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        seen[request.path_qs] += 1
        return await handler(request)

    app = web.Application(middlewares=[count])
    add_routes(app, registry)
    server = await aiohttp_server(app)
    edge = edge_factory(server.port)  # type: ignore[arg-type]
    path = "/hls/edgell/180p/playlist.m3u8?_HLS_msn=1&_HLS_part=2"
    waiting = asyncio.ensure_future(_get_many(edge.url + path, 50))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await asyncio.to_thread(pipeline.run_frames, 40)
    replies = await asyncio.wait_for(waiting, 15)
    assert all(s == 200 and b'URI="seg_000001.p2.m4s"' in body for s, body, _ in replies)
    assert seen[path] == 1
    await asyncio.to_thread(pipeline.close)
