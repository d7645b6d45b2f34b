"""Storage keys, atomic writes, and storage failures that must not crash the recorder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recordings.manifest import Manifest, RenditionInfo, SegmentRecord
from recordings.storage import BadKey, LocalStorage, make_key, valid_id, valid_name
from recordings.writer import RecordingWriter


@pytest.mark.parametrize(
    "parts",
    [
        ("..",),
        ("a", "..", "x.m4s"),
        ("a/b",),
        ("a", "b/../c.m4s"),
        ("",),
        (".hidden",),
        ("a", ".tmp-1.m4s"),
        ("a", "x" * 80 + ".m4s"),
        ("a\x00b",),
        ("a", "seg.m4s\n"),
        ("a", "/etc/passwd"),
        ("a", "..\\x.m4s"),
    ],
)
def test_bad_keys_are_refused(parts: tuple[str, ...]) -> None:
    with pytest.raises(BadKey):
        make_key(*parts)


def test_good_keys() -> None:
    assert make_key("lesson-5A_2024", "720p", "seg_000001.p2.m4s") == (
        "lesson-5A_2024/720p/seg_000001.p2.m4s"
    )
    assert valid_name("init.mp4") and valid_name("playlist.m3u8")


@given(st.text(max_size=80))
def test_no_accepted_id_or_name_can_leave_its_folder(text: str) -> None:
    if valid_id(text):
        assert "/" not in text and "." not in text and text.isascii()
    if valid_name(text):
        assert "/" not in text and "\\" not in text and ".." not in text
        assert not text.startswith(".") and text.isascii()


def test_local_storage_refuses_traversal_in_raw_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    (tmp_path / "secret.txt").write_text("no")
    for key in ("../secret.txt", "a/../../secret.txt", "/etc/passwd"):
        with pytest.raises(BadKey):
            storage.read(key)
        with pytest.raises(BadKey):
            storage.write_atomic(key, b"x")
    with pytest.raises(BadKey):
        storage.delete_recording("..")
    assert (tmp_path / "secret.txt").read_text() == "no"


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.write_atomic("r1/a/seg_000000.m4s", b"one")
    storage.write_atomic("r1/a/seg_000000.m4s", b"two")
    assert storage.read("r1/a/seg_000000.m4s") == b"two"
    assert [p.name for p in (tmp_path / "r1" / "a").iterdir()] == ["seg_000000.m4s"]
    assert storage.recording_ids() == ["r1"]
    storage.delete_recording("r1")
    assert storage.recording_ids() == []


def test_unwritable_storage_is_counted_never_raised(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    (tmp_path / "r2").mkdir()
    (tmp_path / "r2" / "a").write_text("a file where a folder should be")
    writer = RecordingWriter(storage, Manifest("r2", renditions=(RenditionInfo("a", 2, 2, 1),)))
    writer.open()
    assert writer.write_segment("a", SegmentRecord(0, 2.0, 3, 0.0), b"abc") is False
    writer.write_init("a", b"init")
    writer.close()
    assert writer.manifest.write_errors >= 2
    assert writer.manifest.renditions[0].segments == 0
