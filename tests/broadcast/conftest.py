"""A recorded synthetic broadcast shared by the broadcast tests (encoded once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from broadcast.encoder import RenditionSpec
from broadcast.pipeline import BroadcastPipeline, open_broadcast
from broadcast.stage import StageState
from broadcast.synthetic import SyntheticStage
from recordings.storage import LocalStorage

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = RenditionSpec("180p", 320, 180, 300, 64)
SWITCH_AT = 2.5  # s0 → s1, mid-segment
SCREEN_AT = 4.0  # s2 shares its screen, s1 in PiP
GRID_AT = 5.5


@dataclass
class Recorded:
    """The broadcast after it ended, plus what was seen while it was live."""

    storage: LocalStorage
    root: Path
    pipeline: BroadcastPipeline
    stage: SyntheticStage
    live_playlist: str
    rendered_first_second: set[object]


def schedule() -> list[tuple[float, StageState]]:
    return [
        (0.0, StageState(active_speaker="s0")),
        (SWITCH_AT, StageState(active_speaker="s1")),
        (SCREEN_AT, StageState(active_speaker="s1", screen_share="s2")),
        (GRID_AT, StageState(layout="grid", grid=("s0", "s1", "s2"))),
    ]


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("recordings")
    storage = LocalStorage(root)
    stage = SyntheticStage(3, 320, 180, schedule())
    pipeline = open_broadcast("synthetic", stage, storage, (SMALL,), realtime=False)
    pipeline.run_frames(30)
    rendered = set(stage.rendered)
    pipeline.run_frames(140 - 30)
    live = pipeline.output.renditions["180p"].playlist
    pipeline.run_frames(210 - 140)
    pipeline.close()
    return Recorded(storage, root, pipeline, stage, live, rendered)
