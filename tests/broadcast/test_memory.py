"""Hours of broadcast keep memory flat: only a window of segments and parts stays in memory."""

from __future__ import annotations

import re

from broadcast.hls import HlsTiming
from broadcast.pipeline import open_broadcast
from broadcast.synthetic import SyntheticStage
from tests.broadcast.conftest import SMALL


def test_only_the_window_stays_in_memory() -> None:
    timing = HlsTiming(window=2, parts_kept=2)
    stage = SyntheticStage(1)
    pipeline = open_broadcast("long", stage, None, (SMALL,), timing=timing, realtime=False)
    live = pipeline.output.renditions["180p"]
    held: list[int] = []
    for _ in range(10):  # 10 segments of 2 s
        pipeline.run_frames(60)
        held.append(len([s for s in range(12) if live.segment(s) is not None]))
    assert max(held) <= timing.window + 2
    assert live.segment(0) is None and live.segment(8) is not None
    assert live.part(5, 0) is None  # old parts' bytes are dropped
    playlist = live.playlist
    assert re.findall(r"#EXTINF", playlist).__len__() == timing.window
    assert "#EXT-X-MEDIA-SEQUENCE:7" in playlist
    pipeline.close()
    assert pipeline.output.ended
