"""A 30-second synthetic call recording shared by the recording tests."""

from __future__ import annotations

import pytest

from broadcast.encoder import RenditionSpec
from broadcast.pipeline import open_broadcast
from broadcast.stage import StageState
from broadcast.synthetic import SyntheticStage
from recordings.storage import LocalStorage

SMALL = RenditionSpec("180p", 320, 180, 300, 64)
SECONDS = 30


@pytest.fixture(scope="session")
def thirty_seconds(tmp_path_factory: pytest.TempPathFactory) -> LocalStorage:
    storage = LocalStorage(tmp_path_factory.mktemp("rec30"))
    schedule = [(0.0, StageState(active_speaker="s0")), (10.0, StageState(active_speaker="s1"))]
    stage = SyntheticStage(2, 320, 180, schedule)
    pipeline = open_broadcast("call30", stage, storage, (SMALL,), title="Урок 5А", realtime=False)
    pipeline.run_frames(SECONDS * 30)
    pipeline.close()
    return storage
