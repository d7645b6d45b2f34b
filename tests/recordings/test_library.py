"""The library: listing, rename, delete, retention, thumbnails."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from recordings.library import RecordingBusy, delete, expired, list_recordings, rename, thumbnail
from recordings.manifest import Manifest, RenditionInfo
from recordings.storage import BadKey, LocalStorage
from recordings.writer import RecordingWriter


def test_list_and_thumbnail_of_a_real_recording(thirty_seconds: LocalStorage) -> None:
    (manifest,) = [m for m in list_recordings(thirty_seconds) if m.id == "call30"]
    assert manifest.title == "Урок 5А" and manifest.status == "complete"
    assert abs(manifest.duration - 30.0) < 1e-6 and manifest.size > 0
    jpeg = thumbnail(thirty_seconds, "call30", width=160)
    assert jpeg[:2] == b"\xff\xd8"
    with av.open(io.BytesIO(jpeg), "r") as image:
        frame = next(image.decode(video=0))
    assert (frame.width, frame.height) == (160, 90)


def test_rename_delete_and_busy_recordings(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    info = (RenditionInfo("a", 2, 2, 1),)
    live = RecordingWriter(storage, Manifest("live", renditions=info, created=2.0))
    live.open()
    done = RecordingWriter(storage, Manifest("done", renditions=info, created=1.0))
    done.open()
    done.close()
    assert [m.id for m in list_recordings(storage)] == ["live", "done"]
    with pytest.raises(RecordingBusy):
        rename(storage, "live", "x")
    with pytest.raises(RecordingBusy):
        delete(storage, "live")
    assert rename(storage, "done", "  Родительское собрание  ").title == "Родительское собрание"
    assert [m.title for m in list_recordings(storage) if m.id == "done"] == [
        "Родительское собрание"
    ]
    assert expired(storage, max_age_s=10, now=100.0) == ["done"]  # never the live one
    delete(storage, "done")
    assert [m.id for m in list_recordings(storage)] == ["live"]
    with pytest.raises(BadKey):
        delete(storage, "../live")
