"""LiveStage: the active speaker follows the voices with a hold; the grid shows the loudest four."""

from __future__ import annotations

import time

import numpy as np

from broadcast import studio
from broadcast.studio import LiveStage


def _voice(stage: LiveStage, pid: str, amplitude: float, frames: int = 30) -> None:
    tone = (np.sin(np.arange(960) * 0.1) * amplitude).astype(np.float32)
    for _ in range(frames):
        stage.push_audio(pid, tone)


def test_speaker_changes_only_after_the_hold() -> None:
    stage = LiveStage()
    for pid in ("a", "b"):
        stage.video_added(pid, "camera")
    _voice(stage, "a", 0.5)
    assert stage.state().active_speaker == "a"
    _voice(stage, "a", 0.0)
    _voice(stage, "b", 0.5)
    assert stage.state().active_speaker == "a", "no switch before the hold time"
    time.sleep(studio.SWITCH_HOLD_S + 0.1)
    assert stage.state().active_speaker == "b"


def test_screen_share_and_grid() -> None:
    stage = LiveStage("grid")
    for i, pid in enumerate("abcde"):
        stage.video_added(pid, "camera")
        _voice(stage, pid, 0.1 * (i + 1))
    state = stage.state()
    assert state.layout == "grid" and state.grid == ("e", "d", "c", "b")
    stage.video_added("c", "screen")
    assert stage.state().screen_share == "c"
    stage.video_removed("c", "screen")
    assert stage.state().screen_share is None
    stage.forget("e")
    stage.video_removed("e", "camera")
    assert "e" not in stage.state().grid
