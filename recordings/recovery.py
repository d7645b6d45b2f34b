"""Find recordings left open by a crash and close them as "interrupted" (still playable)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from recordings.manifest import MANIFEST, Manifest
from recordings.storage import Storage, make_key
from recordings.writer import finalize, read_manifest

logger = logging.getLogger(__name__)


def recover(storage: Storage) -> list[Manifest]:
    """Close every recording still marked "recording"; returns the recovered manifests.

    Call once at start-up, before any new recording starts (a live one would be closed too).
    """
    recovered: list[Manifest] = []
    for recording_id in storage.recording_ids():
        manifest = _load(storage, recording_id)
        if manifest is None or manifest.status != "recording":
            continue
        closed = finalize(storage, replace(manifest, status="interrupted", ended=time.time()))
        storage.write_atomic(make_key(recording_id, MANIFEST), closed.to_json())
        logger.warning(
            "recording %s was interrupted; closed with %.1f s", recording_id, closed.duration
        )
        recovered.append(closed)
    return recovered


def _load(storage: Storage, recording_id: str) -> Manifest | None:
    if not storage.exists(make_key(recording_id, MANIFEST)):
        return None
    try:
        return read_manifest(storage, recording_id)
    except (ValueError, TypeError, KeyError):
        logger.error("recording %s: unreadable manifest", recording_id)
        return None
