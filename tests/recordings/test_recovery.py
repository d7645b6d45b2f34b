"""Crash safety: kill -9 mid-recording, then recovery closes it as "interrupted", playable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from recordings.manifest import Manifest, RenditionInfo, SegmentRecord
from recordings.recovery import recover
from recordings.storage import LocalStorage
from recordings.writer import RecordingWriter, read_index
from tests.broadcast.conftest import REPO_ROOT
from tests.broadcast.media import decode


def _segments_landed(root: Path) -> int:
    try:
        manifest = json.loads((root / "crashme" / "manifest.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(manifest["renditions"][0]["segments"])


def test_kill_9_mid_recording_then_recovery(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.recordings.record_child", str(tmp_path)], cwd=REPO_ROOT
    )
    try:
        deadline = time.monotonic() + 60
        while _segments_landed(tmp_path) < 3 and time.monotonic() < deadline:
            assert child.poll() is None, "the recorder died on its own"
            time.sleep(0.1)
        time.sleep(0.7)  # into the next segment: a segment is in progress when we kill
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    storage = LocalStorage(tmp_path)
    landed = read_index(storage, "crashme", "180p")
    assert len(landed) >= 3
    recovered = recover(storage)
    assert [m.id for m in recovered] == ["crashme"]
    manifest = Manifest.from_json((tmp_path / "crashme" / "manifest.json").read_bytes())
    assert manifest.status == "interrupted" and manifest.ended is not None
    assert manifest.renditions[0].segments == len(landed)
    playlist = (tmp_path / "crashme" / "180p" / "playlist.m3u8").read_text()
    assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
    decoded = decode(tmp_path / "crashme" / "180p" / "playlist.m3u8")
    assert len(decoded.video) == 60 * len(landed)  # every complete segment plays
    assert recover(storage) == []  # idempotent: nothing left open


def test_recovery_skips_torn_index_lines_and_missing_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    writer = RecordingWriter(storage, Manifest("torn", renditions=(RenditionInfo("a", 2, 2, 1),)))
    writer.open()
    for seq in range(3):
        writer.write_segment("a", SegmentRecord(seq, 2.0, 4, seq * 2.0), b"data")
    (tmp_path / "torn" / "a" / "seg_000001.m4s").unlink()
    with (tmp_path / "torn" / "a" / "index.jsonl").open("ab") as index:
        index.write(b'{"seq":3,"dura')  # the crash hit mid-append
    (recovered,) = recover(storage)
    assert recovered.renditions[0].segments == 2
    assert recovered.renditions[0].duration == 4.0
    playlist = (tmp_path / "torn" / "a" / "playlist.m3u8").read_text()
    assert "seg_000000.m4s" in playlist and "seg_000001.m4s" not in playlist
    assert "#EXT-X-DISCONTINUITY" in playlist


def test_finished_recordings_are_left_alone(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    writer = RecordingWriter(storage, Manifest("done", renditions=(RenditionInfo("a", 2, 2, 1),)))
    writer.open()
    writer.close()
    writer.close()  # idempotent
    before = (tmp_path / "done" / "manifest.json").read_bytes()
    assert recover(storage) == []
    assert (tmp_path / "done" / "manifest.json").read_bytes() == before
    assert Manifest.from_json(before).status == "complete"
