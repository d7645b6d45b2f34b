"""Write a recording directory segment by segment, crash-safe.

Order for each segment: the segment file (temp + rename), then its line in ``index.jsonl``,
then ``manifest.json`` (temp + rename). A crash loses at most the segment in progress.
Storage errors (disk full, unwritable) are counted and logged, never raised into the encoder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from recordings.manifest import (
    INDEX,
    INIT,
    MANIFEST,
    MASTER,
    PLAYLIST,
    Manifest,
    RenditionInfo,
    SegmentRecord,
    segment_name,
)
from recordings.playlist import master_playlist, vod_playlist
from recordings.storage import Storage, iter_lines, make_key

logger = logging.getLogger(__name__)


def read_index(storage: Storage, recording_id: str, rendition: str) -> list[SegmentRecord]:
    """Segments of a rendition whose index line and file are both complete."""
    key = make_key(recording_id, rendition, INDEX)
    if not storage.exists(key):
        return []
    records: list[SegmentRecord] = []
    for line in iter_lines(storage.read(key)):
        try:
            record = SegmentRecord.from_line(line)
        except (ValueError, KeyError, TypeError):
            logger.warning("recording %s: skipping a damaged index line", recording_id)
            continue
        if storage.exists(make_key(recording_id, rendition, record.name)):
            records.append(record)
    return records


def read_manifest(storage: Storage, recording_id: str) -> Manifest:
    return Manifest.from_json(storage.read(make_key(recording_id, MANIFEST)))


def finalize(storage: Storage, manifest: Manifest) -> Manifest:
    """Write each rendition's VOD playlist from the index and recount what is really there."""
    for info in manifest.renditions:
        records = read_index(storage, manifest.id, info.name)
        text = vod_playlist(records, manifest.target_duration)
        storage.write_atomic(make_key(manifest.id, info.name, PLAYLIST), text.encode())
        counted = replace(
            info,
            segments=len(records),
            duration=round(sum(r.duration for r in records), 6),
            size=sum(r.size for r in records),
        )
        manifest = manifest.with_rendition(counted)
    return manifest


class RecordingWriter:
    """One recording being written; thread-safe (the encoder thread calls it)."""

    def __init__(self, storage: Storage, manifest: Manifest) -> None:
        make_key(manifest.id)
        self.storage = storage
        self._manifest = manifest
        self._lock = threading.Lock()
        self._closed = False

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open(self) -> None:
        self._guarded(self._write_manifest)
        master = master_playlist(self._manifest.renditions).encode()
        self._guarded(lambda: self.storage.write_atomic(make_key(self.id, MASTER), master))

    @property
    def id(self) -> str:
        return self._manifest.id

    def set_codecs(self, rendition: str, codecs: str) -> None:
        with self._lock:
            info = self._manifest.rendition(rendition)
            if info is not None:
                self._manifest = self._manifest.with_rendition(replace(info, codecs=codecs))
        self.open()

    def write_init(self, rendition: str, data: bytes) -> None:
        key = make_key(self.id, rendition, INIT)
        self._guarded(lambda: self.storage.write_atomic(key, data))

    def write_segment(self, rendition: str, record: SegmentRecord, data: bytes) -> bool:
        """Store one complete segment; False if storage failed (the live stream goes on)."""
        with self._lock:
            if self._closed:
                return False
            seg_key = make_key(self.id, rendition, segment_name(record.seq))
            ok = self._guarded(lambda: self.storage.write_atomic(seg_key, data))
            index_key = make_key(self.id, rendition, INDEX)
            ok = ok and self._guarded(lambda: self.storage.append(index_key, record.to_line()))
            if ok:
                self._count(rendition, record)
            self._guarded(self._write_manifest)
            return ok

    def _count(self, rendition: str, record: SegmentRecord) -> None:
        info = self._manifest.rendition(rendition)
        if info is None:
            return
        info = replace(
            info,
            segments=info.segments + 1,
            duration=round(info.duration + record.duration, 6),
            size=info.size + record.size,
        )
        self._manifest = self._manifest.with_rendition(info)

    def close(self) -> None:
        """Close the playlists (EXT-X-ENDLIST), mark complete. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            done = replace(self._manifest, status="complete", ended=time.time())
            try:
                self._manifest = finalize(self.storage, done)
            except OSError:
                logger.exception("recording %s: could not write its playlists", self.id)
                self._manifest = done
            self._guarded(self._write_manifest)

    def _write_manifest(self) -> None:
        self.storage.write_atomic(make_key(self.id, MANIFEST), self._manifest.to_json())

    def _guarded(self, action: Callable[[], None]) -> bool:
        try:
            action()
            return True
        except OSError as exc:
            self._manifest = replace(self._manifest, write_errors=self._manifest.write_errors + 1)
            logger.error("recording %s: storage error: %s", self.id, exc)
            return False


__all__ = ["RecordingWriter", "RenditionInfo", "finalize", "read_index", "read_manifest"]
