"""Simulcast layer choice: which layer of each simulcast video a subscriber gets.

Pure functions (the room applies them): a layer follows the size of the tile the subscriber
shows the video in, then the subscriber's bandwidth estimate caps the sum.
"""

from __future__ import annotations

from collections.abc import Sequence

from sfu.api import TileView

# The longer side of a tile (CSS pixels, 16:9 assumed) up to which each layer is enough, for
# the usual encodings: low = 1/4, middle = 1/2 of a 720p camera (320 × 180, 640 × 360).
LOW_UP_TO = 360
MIDDLE_UP_TO = 720
# Without a tile report: as many videos as a grid shows at once → the layer a tile that size
# needs (one or two videos fill the screen; up to six share it; more are thumbnails).
FULL_UP_TO_VIDEOS = 2
MIDDLE_UP_TO_VIDEOS = 6
# Nominal layer bitrates (bits/s) while a layer's own has not been measured yet.
NOMINAL_BPS = (150_000, 500_000, 1_500_000)
HEADROOM = 0.9  # use at most this share of the subscriber's estimate


def for_tile(tile: TileView | None, layers: int, reported: bool, videos: int) -> int:
    """The layer (0 = lowest) a subscriber needs for one video.

    ``tile``: where it shows the video (None: not among the tiles it reported); ``reported``:
    whether it ever reported tiles; ``videos``: how many videos it receives."""
    top = layers - 1
    if tile is not None:
        size = max(tile.width, tile.height * 16 // 9)
        if size <= 0:
            return 0
        if size <= LOW_UP_TO:
            return 0
        return min(top, 1) if size <= MIDDLE_UP_TO else top
    if reported:
        return 0  # received for last-N priority but not on the client's page: a thumbnail
    if videos <= FULL_UP_TO_VIDEOS:
        return top
    return min(top, 1) if videos <= MIDDLE_UP_TO_VIDEOS else 0


def rate(bitrates: Sequence[float], layer: int) -> float:
    """A layer's bitrate: measured, else nominal."""
    measured = bitrates[layer] if layer < len(bitrates) else 0.0
    return measured or NOMINAL_BPS[min(layer, len(NOMINAL_BPS) - 1)]


def fit(wanted: list[int], bitrates: Sequence[Sequence[float]], budget_bps: float) -> list[int]:
    """Lower layers until the sum fits ``budget_bps`` (0: no estimate, no cap): each step takes
    the video whose current layer costs most down one layer; layer 0 always stays."""
    chosen = list(wanted)
    if budget_bps <= 0:
        return chosen
    limit = budget_bps * HEADROOM

    def total() -> float:
        return sum(rate(b, layer) for b, layer in zip(bitrates, chosen, strict=True))

    while total() > limit:
        candidates = [i for i, layer in enumerate(chosen) if layer > 0]
        if not candidates:
            break
        worst = max(candidates, key=lambda i: rate(bitrates[i], chosen[i]))
        chosen[worst] -= 1
    return chosen
