"""Layouts and pixels of the compositor."""

from __future__ import annotations

import av
import numpy as np

from broadcast.compositor import Compositor, Rect, fit, grid_boxes
from broadcast.stage import SourceKey, StageState


def solid(width: int, height: int, luma: int) -> av.VideoFrame:
    planes = np.full((height * 3 // 2, width), 128, np.uint8)
    planes[:height] = luma
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def luma(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray()[: frame.height]


def test_active_speaker_fills_the_frame() -> None:
    comp = Compositor()
    state = StageState(active_speaker="a")
    assert comp.layout(state) == [(SourceKey("a"), Rect(0, 0, 1280, 720))]
    out = comp.compose(state, {SourceKey("a"): solid(640, 360, 200)})
    assert (out.width, out.height, out.format.name) == (1280, 720, "yuv420p")
    assert np.all(luma(out) == 200)


def test_screen_share_with_speaker_picture_in_picture() -> None:
    comp = Compositor()
    state = StageState(active_speaker="a", screen_share="b")
    shown = comp.layout(state)
    assert [k for k, _ in shown] == [SourceKey("b", "screen"), SourceKey("a")]
    pip = shown[1][1]
    assert pip.w == 320 and pip.h == 180 and pip.x + pip.w < 1280 and pip.y + pip.h < 720
    frames = {SourceKey("b", "screen"): solid(1920, 1080, 60), SourceKey("a"): solid(320, 240, 220)}
    y = luma(comp.compose(state, frames))
    assert y[10, 10] == 60
    assert y[pip.y + pip.h // 2, pip.x + pip.w // 2] == 220


def test_grid_of_four_and_letterboxing() -> None:
    comp = Compositor(640, 360)
    state = StageState(layout="grid", grid=("a", "b", "c", "d", "e"))
    shown = comp.layout(state)
    assert len(shown) == 4  # at most four
    frames = {SourceKey(p): solid(320, 180, 50 + 40 * i) for i, p in enumerate("abcd")}
    y = luma(comp.compose(state, frames))
    assert [y[90, 160], y[90, 480], y[270, 160], y[270, 480]] == [50, 90, 130, 170]


def test_portrait_source_is_pillarboxed_black() -> None:
    comp = Compositor(640, 360)
    state = StageState(active_speaker="a")
    y = luma(comp.compose(state, {SourceKey("a"): solid(180, 320, 200)}))
    assert y[180, 320] == 200 and y[180, 10] == 16


def test_missing_frame_leaves_black() -> None:
    y = luma(Compositor(320, 180).compose(StageState(active_speaker="a"), {}))
    assert np.all(y == 16)


def test_fit_and_grid_geometry_are_even() -> None:
    for box in [*grid_boxes(3, 1280, 720), fit(333, 177, Rect(0, 0, 1280, 720))]:
        assert all(v % 2 == 0 for v in (box.x, box.y, box.w, box.h))
