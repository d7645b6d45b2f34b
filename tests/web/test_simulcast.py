"""Simulcast in real browsers: four Chromium instances, cameras sent in three layers; a viewer whose
tile shrinks receives a lower layer (frameWidth drops in getStats) and a higher one again when
the tile grows. The layer follows the `view` the page reports; nothing else is simulated."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import CHROMIUM_ARGS
from tests.web.conftest import Server, new_page

pytestmark = pytest.mark.browser

TEACHER = "Мария Ивановна Петрова"
SPEAKER_VIEW = "Вид «докладчик»"

# frameWidth of the teacher's camera as this page receives it (0 until frames are decoded)
FRAME_WIDTH_JS = """async (teacher) => {
  const media = window.urok.client.media;
  const view = window.urok.client.state.tracks.find(
    (t) => t.participant_id === teacher && t.source === "camera");
  if (!media.pc || !view) return 0;
  for (const s of (await media.pc.getStats()).values()) {
    if (s.type === "inbound-rtp" && s.kind === "video" && s.mid === view.mid) {
      return s.frameWidth || 0;
    }
  }
  return 0;
}"""


# whether the teacher's page encodes the camera's full layer
HIGH_ACTIVE_JS = """window.urok.client.media.senders.get("camera").getParameters()
  .encodings.find((e) => e.rid === "h").active"""


async def enter(page: Page, link: str) -> None:
    await page.goto(link)
    await page.get_by_role("button", name="Войти", exact=True).click()
    await expect(page.get_by_role("button", name="Поднять руку")).to_be_visible()


async def width_becomes(
    page: Page, teacher: str, test: Callable[[int], bool], timeout_s: float = 45.0
) -> int:
    """Poll the received frameWidth (twice a second) until ``test`` holds; returns it."""
    deadline = time.monotonic() + timeout_s
    seen: list[int] = []
    while time.monotonic() < deadline:
        width = int(await page.evaluate(FRAME_WIDTH_JS, teacher))
        if test(width):
            return width
        seen.append(width)
        await asyncio.sleep(0.5)
    raise AssertionError(f"frameWidth never met the condition; seen {seen[-10:]}")


async def test_a_shrinking_tile_gets_a_lower_layer_and_a_growing_one_a_higher(
    server: Server, browser: Browser
) -> None:
    room = await server.create_room(waiting_room=False)
    _, teacher = await new_page(browser)
    await enter(teacher, server.link(room, TEACHER, "teacher"))
    pages = []
    others = []  # four Chromium instances in all: each student in a browser process of its own
    for name in ("Анна Смирнова", "Борис Орлов", "Вера Лебедева"):
        instance = await browser.browser_type.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        others.append(instance)
        _, page = await new_page(instance)
        await enter(page, server.link(room, name))
        pages.append(page)
    anna = pages[0]
    teacher_id = await teacher.evaluate("window.urok.client.state.you.id")

    # the teacher's sender really has three encodings, as the SDP says
    rids = await teacher.evaluate(
        """() => { const s = window.urok.client.media.senders.get("camera");
        return s.getParameters().encodings.map((e) => e.rid); }"""
    )
    assert rids == ["l", "m", "h"]
    # what is under test is the SFU's layer choice, not Chromium's CPU adaptation: on a loaded
    # test machine the teacher's encoder keeps each layer's resolution
    await teacher.evaluate(
        """async () => { const s = window.urok.client.media.senders.get("camera");
        const p = s.getParameters(); p.degradationPreference = "maintain-resolution";
        await s.setParameters(p); }"""
    )

    # a big main picture: the teacher in speaker view on a large window
    await anna.set_viewport_size({"width": 1600, "height": 1000})
    await anna.get_by_role("button", name=SPEAKER_VIEW).click()
    big = await width_becomes(anna, teacher_id, lambda w: w >= 480)

    # the window shrinks to a thumbnail's size: a lower layer arrives
    await anna.get_by_role("button", name=SPEAKER_VIEW).click()
    await anna.set_viewport_size({"width": 420, "height": 320})
    small = await width_becomes(anna, teacher_id, lambda w: 0 < w <= big // 2)
    # nobody needs the full picture now (the others' tiles need the middle layer): dynacast
    # tells the teacher's page, which stops encoding it
    await teacher.wait_for_function(HIGH_ACTIVE_JS + " === false", timeout=20_000)

    # and grows back
    await anna.set_viewport_size({"width": 1600, "height": 1000})
    await anna.get_by_role("button", name=SPEAKER_VIEW).click()
    again = await width_becomes(anna, teacher_id, lambda w: w >= 2 * small)
    assert again >= 480
    assert await teacher.evaluate(HIGH_ACTIVE_JS) is True  # resumed for anna
    for instance in others:
        await instance.close()
