"""Four real Chromium instances (Debian chromium, fake camera and mic) in one SFU room, driven
through a tiny HTTP endpoint that lives only in this test (no signaling, no web client)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright

from sfu.api import MediaEvent, SdpOffer, TracksChanged
from sfu.server import SFU
from tests.conftest import CHROMIUM_ARGS

pytestmark = pytest.mark.browser
ROOM = "browsers"
# the shared flags (no background networking: it floods a closed network) + a screen to share
ARGS = [*CHROMIUM_ARGS, "--auto-select-desktop-capture-source=Entire screen"]
PAGE = """<!doctype html><meta charset="utf-8"><title>sfu</title><script type="module">
const pid = new URLSearchParams(location.search).get("pid");
const pc = new RTCPeerConnection();
window.tracks = [];
let queue = Promise.resolve();
const post = (path, body) => fetch(path + pid, {method: "POST", body});
async function offer() {
  await pc.setLocalDescription();
  const reply = await post("/offer/", pc.localDescription.sdp);
  await pc.setRemoteDescription({type: "answer", sdp: await reply.text()});
}
async function answer(sdp) {
  await pc.setRemoteDescription({type: "offer", sdp});
  await pc.setLocalDescription();
  await post("/answer/", pc.localDescription.sdp);
}
async function poll() {
  for (;;) {
    const event = await (await fetch("/events/" + pid)).json();
    if (event.type === "offer") queue = queue.then(() => answer(event.sdp));
    if (event.type === "tracks") window.tracks = event.tracks;
  }
}
window.shareScreen = async () => {
  const screen = await navigator.mediaDevices.getDisplayMedia({video: true});
  pc.addTransceiver(screen.getVideoTracks()[0], {direction: "sendonly"});
  queue = queue.then(offer);
  await queue;
};
window.inbound = async () => {
  const out = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp")
      out[s.mid] = {kind: s.kind, frames: s.framesDecoded || 0, packets: s.packetsReceived};
  });
  return out;
};
const media = await navigator.mediaDevices.getUserMedia(
  {audio: true, video: {width: 320, height: 240, frameRate: 15}});
for (const track of media.getTracks())
  pc.addTransceiver(track, {direction: "sendonly", streams: [media]});
poll();
queue = queue.then(offer);
await queue;
window.ready = true;
</script>"""


class Endpoint:
    """HTTP in front of the SFU: offers, answers, and a long poll for the SFU's events."""

    def __init__(self, sfu: SFU) -> None:
        self.sfu = sfu
        self.events: dict[str, asyncio.Queue[dict[str, Any]]] = {}

    async def join(self, pid: str) -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.events[pid] = queue

        def notify(event: MediaEvent) -> None:
            if isinstance(event, SdpOffer):
                queue.put_nowait({"type": "offer", "sdp": event.sdp})
            elif isinstance(event, TracksChanged):
                tracks = [t.__dict__ for t in event.tracks]
                queue.put_nowait({"type": "tracks", "tracks": tracks})

        await self.sfu.join(ROOM, pid, frozenset({"mic", "camera", "screen"}), notify)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_post("/offer/{pid}", self.offer)
        app.router.add_post("/answer/{pid}", self.answer)
        app.router.add_get("/events/{pid}", self.poll)
        return app

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def offer(self, request: web.Request) -> web.Response:
        sdp = await self.sfu.offer(ROOM, request.match_info["pid"], await request.text())
        return web.Response(text=sdp)

    async def answer(self, request: web.Request) -> web.Response:
        await self.sfu.answer(ROOM, request.match_info["pid"], await request.text())
        return web.Response(text="ok")

    async def poll(self, request: web.Request) -> web.Response:
        try:
            event = await asyncio.wait_for(self.events[request.match_info["pid"]].get(), 5)
        except TimeoutError:
            event = {"type": "none"}
        return web.Response(text=json.dumps(event), content_type="application/json")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield chromium
        await chromium.close()


async def frames_by_source(page: Page) -> dict[tuple[str, str], int]:
    """(participant, source) → frames decoded, for the remote videos this page receives."""
    tracks = {t["mid"]: (t["participant_id"], t["source"]) for t in await page.evaluate("tracks")}
    stats = await page.evaluate("inbound()")
    return {
        tracks[mid]: s["frames"]
        for mid, s in stats.items()
        if s["kind"] == "video" and mid in tracks
    }


async def audio_packets(page: Page) -> int:
    stats = await page.evaluate("inbound()")
    return sum(s["packets"] for s in stats.values() if s["kind"] == "audio")


async def eventually(check: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "browsers did not get there in time"
        await asyncio.sleep(0.25)


async def test_four_browsers_decode_each_other_mute_and_screen_share(browser: Browser) -> None:
    sfu = SFU(ice_addresses=("127.0.0.1",))
    endpoint = Endpoint(sfu)
    server = TestServer(endpoint.app(), host="127.0.0.1")
    await server.start_server()
    pids = [f"p{i}" for i in range(4)]
    pages: list[Page] = []
    try:
        for pid in pids:
            await endpoint.join(pid)
            page = await (await browser.new_context()).new_page()
            await page.goto(str(server.make_url(f"/?pid={pid}")))
            pages.append(page)
        for page in pages:
            await page.wait_for_function("window.ready === true", timeout=15_000)

        async def all_decoding() -> bool:
            for pid, page in zip(pids, pages, strict=True):
                frames = await frames_by_source(page)
                others = {(p, "camera") for p in pids if p != pid}
                if not others <= {k for k, v in frames.items() if v > 5}:
                    return False
                if await audio_packets(page) < 20:
                    return False
            return True

        await eventually(all_decoding)

        # the host mutes p0's camera: its frames stop at the others, the rest go on
        sfu.set_source_allowed(ROOM, "p0", "camera", False)
        await asyncio.sleep(0.5)
        before = [await frames_by_source(page) for page in pages[1:]]
        await asyncio.sleep(1.5)
        after = [await frames_by_source(page) for page in pages[1:]]
        for b, a in zip(before, after, strict=True):
            assert a[("p0", "camera")] == b[("p0", "camera")]
            assert all(a[k] > b[k] + 5 for k in a if k[0] != "p0")

        # p1 shares its screen: the others decode it
        await pages[1].evaluate("shareScreen()")

        async def screen_arrives() -> bool:
            for page in (pages[0], pages[2], pages[3]):
                if (await frames_by_source(page)).get(("p1", "screen"), 0) <= 3:
                    return False
            return True

        await eventually(screen_arrives)
    finally:
        for page in pages:
            await page.context.close()
        await server.close()
        await sfu.close()
