"""hls.js (the viewer page's player) in real Chromium reads our playlist delta updates: its own
parser accepts the full playlist and the delta without errors, counts the skipped segments, and
numbers the listed ones exactly as in the full playlist. (Playback with deltas is covered by the
live test in test_viewer_page.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from broadcast.hls import HlsTiming, OutputRegistry
from broadcast.http import add_routes
from broadcast.pipeline import open_broadcast
from broadcast.synthetic import SyntheticStage
from recordings.storage import LocalStorage
from tests.broadcast.conftest import SMALL
from tests.conftest import CHROMIUM_ARGS

HLS_JS = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "hls.js" / "dist"
pytestmark = pytest.mark.browser

PARSE = """async () => {
  const { M3U8Parser } = await import("/hls.js/hls.mjs");
  const url = location.origin + "/hls/d1/180p/playlist.m3u8";
  const read = async (query) => {
    const text = await (await fetch(url + query)).text();
    const d = M3U8Parser.parseLevelPlaylist(text, url, 0, "main", 0, null);
    return {
      error: d.playlistParsingError ? String(d.playlistParsingError) : null,
      startSN: d.startSN, endSN: d.endSN, skipped: d.skippedSegments,
      canSkipUntil: d.canSkipUntil, targetduration: d.targetduration,
      fragments: d.fragments.map((f) => (f ? [f.sn, f.relurl, f.duration] : null)),
    };
  };
  return { full: await read(""), delta: await read("?_HLS_skip=YES") };
}"""


async def _blank(_: web.Request) -> web.Response:
    return web.Response(text="<!doctype html>", content_type="text/html")


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    storage = LocalStorage(tmp_path)
    pipeline = open_broadcast(
        "d1",
        SyntheticStage(1),
        storage,
        (SMALL,),
        timing=HlsTiming(recorded_window=10),
        realtime=False,
    )
    pipeline.run_frames(12 * 60 + 25)
    app = web.Application()
    registry = OutputRegistry(storage)
    registry.add(pipeline.output)
    add_routes(app, registry)
    app.router.add_static("/hls.js/", HLS_JS)
    app.router.add_get("/", _blank)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()
    pipeline.close()


async def test_hls_js_parses_the_delta_update(base: str) -> None:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = await chromium.new_page()
        await page.goto(base + "/")
        got: dict[str, Any] = await page.evaluate(PARSE)
        await chromium.close()
    full, delta = got["full"], got["delta"]
    assert full["error"] is None and delta["error"] is None
    assert full["canSkipUntil"] == 12 == 6 * full["targetduration"]
    assert full["skipped"] == 0 and None not in full["fragments"]
    assert [f[0] for f in full["fragments"]] == list(range(2, 12))
    # the delta: four placeholders hls.js fills from the playlist it has, then the same segments
    assert delta["skipped"] == 4
    assert delta["fragments"][:4] == [None] * 4
    assert delta["fragments"][4:] == full["fragments"][4:]
    assert (delta["startSN"], delta["endSN"]) == (full["startSN"], full["endSN"]) == (2, 11)
