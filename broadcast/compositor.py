"""Lay out the shown video sources into one yuv420p canvas (1280x720 by default).

Layouts: the active speaker full frame; a screen share full frame with the speaker as a
picture-in-picture; a grid of up to four. Sources are scaled (libswscale through PyAV's
``reformat``) to fit their box keeping their aspect ratio, then copied plane by plane with numpy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import av
import numpy as np

from broadcast.stage import MAX_GRID, SourceKey, StageState

logger = logging.getLogger(__name__)

BLACK_Y = 16
GREY_UV = 128


@dataclass(frozen=True)
class Rect:
    """A box on the canvas in pixels; all values even (chroma is subsampled 2x2)."""

    x: int
    y: int
    w: int
    h: int


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def fit(src_w: int, src_h: int, box: Rect) -> Rect:
    """The largest rect with the source's aspect ratio centred in ``box``."""
    scale = min(box.w / src_w, box.h / src_h)
    w, h = min(_even(src_w * scale), box.w), min(_even(src_h * scale), box.h)
    return Rect(box.x + (box.w - w) // 2 // 2 * 2, box.y + (box.h - h) // 2 // 2 * 2, w, h)


def grid_boxes(count: int, width: int, height: int) -> list[Rect]:
    """Boxes for 1..4 tiles: full, side by side, or 2x2."""
    if count <= 1:
        return [Rect(0, 0, width, height)]
    half_w, half_h = _even(width / 2), _even(height / 2)
    if count == 2:
        return [Rect(0, 0, half_w, height), Rect(half_w, 0, half_w, height)]
    cells = [(0, 0), (half_w, 0), (0, half_h), (half_w, half_h)]
    return [Rect(x, y, half_w, half_h) for x, y in cells[:count]]


class Compositor:
    """Turns a :class:`StageState` and the shown sources' latest frames into one frame."""

    def __init__(self, width: int = 1280, height: int = 720) -> None:
        self.width = width
        self.height = height
        self._scaled: dict[tuple[int, Rect], tuple[av.VideoFrame, np.ndarray]] = {}

    def layout(self, state: StageState) -> list[tuple[SourceKey, Rect]]:
        """Which sources are shown and in which box (z-order: later on top)."""
        full = Rect(0, 0, self.width, self.height)
        if state.layout == "grid" and state.grid:
            ids = state.grid[:MAX_GRID]
            boxes = grid_boxes(len(ids), self.width, self.height)
            return [(SourceKey(pid), box) for pid, box in zip(ids, boxes, strict=True)]
        shown: list[tuple[SourceKey, Rect]] = []
        if state.screen_share is not None:
            shown.append((SourceKey(state.screen_share, "screen"), full))
            if state.active_speaker is not None:
                shown.append((SourceKey(state.active_speaker), self._pip_box()))
        elif state.active_speaker is not None:
            shown.append((SourceKey(state.active_speaker), full))
        return shown

    def _pip_box(self) -> Rect:
        w, h = _even(self.width / 4), _even(self.height / 4)
        margin = _even(self.height / 40)
        return Rect(self.width - w - margin, self.height - h - margin, w, h)

    def compose(
        self, state: StageState, frames: Mapping[SourceKey, av.VideoFrame | None]
    ) -> av.VideoFrame:
        """One yuv420p frame; a shown source without a frame yet leaves its box black."""
        canvas = np.empty((self.height * 3 // 2, self.width), dtype=np.uint8)
        canvas[: self.height] = BLACK_Y
        canvas[self.height :] = GREY_UV
        cache: dict[tuple[int, Rect], tuple[av.VideoFrame, np.ndarray]] = {}
        for key, box in self.layout(state):
            frame = frames.get(key)
            if frame is not None:
                self._blit(canvas, frame, box, cache)
        self._scaled = cache  # keep only this tick's scalings (reused when a source repeats)
        return av.VideoFrame.from_ndarray(canvas, format="yuv420p")

    def _blit(
        self,
        canvas: np.ndarray,
        frame: av.VideoFrame,
        box: Rect,
        cache: dict[tuple[int, Rect], tuple[av.VideoFrame, np.ndarray]],
    ) -> None:
        rect = fit(frame.width, frame.height, box)
        key = (id(frame), rect)  # the cache holds the frame, so its id cannot be reused
        hit = self._scaled.get(key)
        if hit is not None and hit[0] is frame:
            planes = hit[1]
        else:
            planes = frame.reformat(rect.w, rect.h, "yuv420p").to_ndarray()
        cache[key] = (frame, planes)
        _paste(canvas, self.width, self.height, planes, rect)


def _paste(canvas: np.ndarray, width: int, height: int, planes: np.ndarray, r: Rect) -> None:
    """Copy a (h*3/2, w) yuv420p array into the canvas at ``r``."""
    y_plane = canvas[:height].reshape(height, width)
    y_plane[r.y : r.y + r.h, r.x : r.x + r.w] = planes[: r.h]
    chroma = canvas[height:].reshape(2, height // 2, width // 2)
    src = planes[r.h :].reshape(2, r.h // 2, r.w // 2)
    chroma[:, r.y // 2 : (r.y + r.h) // 2, r.x // 2 : (r.x + r.w) // 2] = src
