"""A broadcast end to end: FFmpeg publishes over WHIP onto the stage, the compositor subscribed
to the SFU room encodes once, HLS plays live at /hls/{id}/, and after the end the same link
replays the recording, which the library lists and exports as MP4."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import av
from aiohttp.test_utils import TestClient, TestServer

from sfu.server import SFU
from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore
from tests.integration.test_whip_ffmpeg import _p256_cert

REPO = Path(__file__).resolve().parents[2]
SECRET = "bcast-secret-0123456789abcdef0123456789"


async def _wait_text(client: TestClient, path: str, needle: str, limit: float = 20) -> str:  # type: ignore[type-arg]
    for _ in range(int(limit / 0.25)):
        resp = await client.get(path)
        if resp.status == 200:
            text = await resp.text()
            if needle in text:
                return text
        await asyncio.sleep(0.25)
    raise AssertionError(f"{path} never contained {needle!r}")


async def test_whip_to_hls_live_then_replay(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=("k",), renditions=("180p",))
    sfu = SFU(ice_addresses=("127.0.0.1",))
    app = create_app(settings, media=sfu, store=MemoryStore())
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        api = {"Authorization": "Bearer k"}
        body: dict[str, Any] = {"title": "Линейка", "kind": "broadcast", "id": "line1", "org": "s1"}
        body["settings"] = {"waiting_room": False}
        assert (await client.post("/api/rooms", json=body, headers=api)).status == 201
        token = auth.mint(
            SECRET, user_id="obs", name="Актовый зал", role="admin", org="s1", room="line1"
        )
        cert, key = _p256_cert(tmp_path)
        url = str(client.make_url("/whip/line1"))
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.integration.whip_client", url, token),
            *(str(cert), str(key), "8"),
            cwd=REPO,
        )
        master = await _wait_text(client, "/hls/line1/master.m3u8", "180p/playlist.m3u8")
        assert "#EXT-X-STREAM-INF" in master
        live = await _wait_text(client, "/hls/line1/180p/playlist.m3u8", "seg_000002.m4s")
        assert "#EXT-X-ENDLIST" not in live
        state = await (await client.get("/api/broadcasts/line1")).json()
        assert state["status"] == "live"
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        assert (await client.post("/api/rooms/line1/end", headers=api)).status == 200
        vod = await _wait_text(client, "/hls/line1/180p/playlist.m3u8", "#EXT-X-ENDLIST")
        assert "seg_000001.m4s" in vod, "the same link replays from the start"
        listing = await (await client.get("/api/library", headers=api)).json()
        (item,) = listing["recordings"]
        assert (
            item["id"] == "line1" and item["status"] == "complete" and item["kind"] == "broadcast"
        )
        assert 5.0 <= item["duration_s"] <= 12.0
        mp4 = await (await client.get("/api/library/line1/download.mp4", headers=api)).read()
        with av.open(io.BytesIO(mp4)) as container:
            kinds = {s.type for s in container.streams}
            means = [float(f.to_ndarray(format="gray").mean()) for f in container.decode(video=0)]
        assert kinds == {"video", "audio"} and len(means) >= 120
        # the publisher's picture (a brightness ramp) is what was composed, not a blank stage
        assert max(means) - min(means) > 40
