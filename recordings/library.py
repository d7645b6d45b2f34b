"""The school's video library over a storage: list, rename, delete, thumbnails, retention.

Who may see or change what is decided by the caller (signaling knows rooms and roles); this
module only refuses to touch a recording that is still being written.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import replace
from fractions import Fraction

import av

from recordings.manifest import INIT, MANIFEST, Manifest
from recordings.storage import Storage, make_key
from recordings.writer import read_index, read_manifest

logger = logging.getLogger(__name__)


class RecordingBusy(Exception):
    """The recording is still being written; it cannot be renamed or deleted now."""


def list_recordings(storage: Storage) -> list[Manifest]:
    """Every readable recording, newest first."""
    found: list[Manifest] = []
    for recording_id in storage.recording_ids():
        try:
            found.append(read_manifest(storage, recording_id))
        except (OSError, ValueError, TypeError, KeyError):
            logger.warning("recording %s: unreadable manifest, not listed", recording_id)
    return sorted(found, key=lambda m: m.created, reverse=True)


def _closed(storage: Storage, recording_id: str) -> Manifest:
    manifest = read_manifest(storage, recording_id)
    if manifest.status == "recording":
        raise RecordingBusy(recording_id)
    return manifest


def rename(storage: Storage, recording_id: str, title: str) -> Manifest:
    """Set the title of a finished recording."""
    manifest = replace(_closed(storage, recording_id), title=title.strip()[:200])
    storage.write_atomic(make_key(recording_id, MANIFEST), manifest.to_json())
    return manifest


def delete(storage: Storage, recording_id: str) -> None:
    """Delete a finished recording and all its files."""
    _closed(storage, recording_id)
    storage.delete_recording(recording_id)


def expired(storage: Storage, max_age_s: float, now: float | None = None) -> list[str]:
    """Finished recordings older than ``max_age_s`` (a retention setting); the caller deletes."""
    limit = (now if now is not None else time.time()) - max_age_s
    return [m.id for m in list_recordings(storage) if m.status != "recording" and m.created < limit]


def thumbnail(storage: Storage, recording_id: str, width: int = 320) -> bytes:
    """A JPEG of the first picture of the middle segment (decodes one segment only)."""
    manifest = read_manifest(storage, recording_id)
    if not manifest.renditions:
        raise ValueError("recording has no renditions")
    rendition = manifest.renditions[-1].name  # the smallest rendition is cheapest to decode
    records = read_index(storage, recording_id, rendition)
    if not records:
        raise ValueError("recording has no segments")
    middle = records[len(records) // 2]
    data = storage.read(make_key(recording_id, rendition, INIT))
    data += storage.read(make_key(recording_id, rendition, middle.name))
    with av.open(io.BytesIO(data), "r") as container:
        frame = next(container.decode(video=0))
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    return _jpeg(frame.reformat(width, height, "yuvj420p"))


def _jpeg(frame: av.VideoFrame) -> bytes:
    codec = av.CodecContext.create("mjpeg", "w")
    assert isinstance(codec, av.video.codeccontext.VideoCodecContext)
    codec.width, codec.height, codec.pix_fmt = frame.width, frame.height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    packets = codec.encode(frame) + codec.encode(None)
    return b"".join(bytes(p) for p in packets)
