"""The real recorder on a disk that fills up: the hosts are told, the recorder stops cleanly."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

from broadcast.hls import OutputRegistry
from recordings.storage import LocalStorage
from sfu.server import SFU
from signaling.recording import RecordingInfo
from signaling.studio import PRESETS, StudioRecorder


class FullDisk(LocalStorage):
    """Storage whose segments cannot be written (the rest can), like a disk that just filled."""

    def write_atomic(self, key: str, data: bytes) -> None:
        if "seg_" in key:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write_atomic(key, data)


async def test_disk_full_reaches_the_hosts(tmp_path: Path) -> None:
    sfu = SFU(ice_addresses=("127.0.0.1",))
    storage = FullDisk(tmp_path)
    recorder = StudioRecorder(sfu, storage, OutputRegistry(storage), (PRESETS["180p"],))
    problems: list[tuple[str, str]] = []
    info = RecordingInfo("room1", "Урок", "s", "5А", "t", "call")
    rid = await recorder.start(info, lambda code, message: problems.append((code, message)))
    assert rid.startswith("room1-") and recorder.active("room1") == rid
    for _ in range(60):
        if problems:
            break
        await asyncio.sleep(0.1)
    assert problems and problems[0][0] == "storage_error"
    await recorder.stop("room1")
    assert recorder.active("room1") is None
    await recorder.close()
    await sfu.close()
