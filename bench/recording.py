"""Recordings: CPU per concurrent recording, bytes per minute, MP4 time to first byte of 1 hour.

Each recording is what a recorded call costs: one composite (two synthetic speakers with a
speaker change), one 720p30 H.264 + AAC encode, segments written to disk as they land.
Recordings run concurrently in this process (each pipeline in its own thread, as in the server);
CPU is this process's utime + stime from the OS.

    python -m bench.recording [--recordings 1,2] [--seconds 15] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.broadcast import RENDITION, _fake_hour, cpu_seconds
from broadcast.encoder import RenditionSpec
from broadcast.pipeline import BroadcastPipeline, open_broadcast
from broadcast.stage import StageState
from broadcast.synthetic import SyntheticStage
from recordings.export import stream_mp4
from recordings.storage import LocalStorage
from recordings.writer import read_manifest

# constant 2.5 Mbit/s: synthetic pictures compress far better than a camera, so pad to the
# bitrate a real lesson reaches (x264 nal-hrd=cbr), the pessimistic case for CPU and disk
SPEC = RenditionSpec(RENDITION, 1280, 720, 2500, 128, cbr=True)


def _pipeline(storage: LocalStorage, rid: str) -> BroadcastPipeline:
    schedule = [(0.0, StageState(active_speaker="s0")), (5.0, StageState(active_speaker="s1"))]
    stage = SyntheticStage(2, 1280, 720, schedule)
    return open_broadcast(rid, stage, storage, (SPEC,), title=rid, realtime=True)


def concurrent(storage: LocalStorage, count: int, seconds: float) -> dict[str, Any]:
    """Run ``count`` recordings for ``seconds``; CPU per recording and whether they kept up."""
    pipelines = [_pipeline(storage, f"rec{count}x{i}") for i in range(count)]
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    for p in pipelines:
        p.start()
    time.sleep(seconds)
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    frames = sum(p.frames for p in pipelines)
    for p in pipelines:
        p.close()
    return {
        "cores_per_recording": round(cpu / wall / count, 3),
        "realtime_ratio": round(frames / (wall * 30 * count), 3),
    }


async def ttfb_1h(storage: LocalStorage, rid: str) -> float:
    hour = _fake_hour(storage, read_manifest(storage, rid))
    start = time.monotonic()
    chunks = stream_mp4(storage, hour.id)
    first = await anext(chunks)
    elapsed = time.monotonic() - start
    await chunks.aclose()
    assert first[4:8] == b"ftyp"
    return round(elapsed, 3)


def run(counts: list[int], seconds: float) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="urok-rec-bench-"))
    try:
        storage = LocalStorage(root)
        by_count = {str(n): concurrent(storage, n, seconds) for n in counts}
        first = f"rec{counts[0]}x0"
        manifest = read_manifest(storage, first)
        minutes = manifest.duration / 60
        return {
            "cores_per_recording": by_count[str(counts[0])]["cores_per_recording"],
            "by_concurrency": by_count,
            "mb_per_minute": round(manifest.size / 1e6 / minutes, 2),
            "mp4_ttfb_s_1h": asyncio.run(ttfb_1h(storage, first)),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}",
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", default="1,2", help="concurrent recordings to try")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run([int(x) for x in args.recordings.split(",")], args.seconds)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
