"""Broadcast benchmark: encode CPU, origin vs nginx throughput, latency, simulated viewers.

    python -m bench.broadcast --json

One run, one process tree, loopback only:
1. Three speakers are fed as RTP (VP8 720p + Opus, pre-encoded, looped with fresh seq/ts) into
   the real RTP path (jitter buffer, depacketizer, PyAV decoders); the compositor shows the
   active speaker (changing every 5 s); one 720p30 x264+AAC encode; HLS in memory + recording.
   ``encode_cores_720p30`` is this process's CPU time over wall time (os.times), no HTTP load.
2. ``latency_s``: for each segment, the time from the capture (RTP send) of the source frame in
   its first picture to the moment an LL-HLS blocking playlist request returns it and the
   segment is downloaded; the segment's first frame is decoded and its embedded frame counter
   checked. ``latency_part_s`` is the same for the first part (LL-HLS). A player adds its hold-back.
3. ``*_rps_*``: wrk (C, 2 threads, 64 connections) on one segment / the media playlist, from the
   aiohttp origin (this process, from memory) and from the nginx edge (deploy/nginx config).
4. Viewers: wrk with a Lua script, one connection per viewer, each fetching the playlist and
   the newest segment it lists, one request a second, through the edge while the broadcast
   runs, stepping up until a viewer misses the deadline (an error or a request over 2 s, p99 over
   1 s, or fewer than 80 % of the requests made).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
from aiohttp import web
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

from bench.common import free_port, print_result
from broadcast.decode import DecodeThread, RtpTrack, audio_track, video_track
from broadcast.edge import NginxEdge
from broadcast.encoder import RenditionSpec
from broadcast.hls import OutputRegistry, part_name
from broadcast.http import add_routes
from broadcast.pipeline import BroadcastPipeline, open_broadcast
from broadcast.stage import SourceKey, StageBuffer, StageState
from broadcast.synthetic import SyntheticSpeaker, read_stamp
from recordings.export import stream_mp4
from recordings.manifest import INDEX, INIT, MANIFEST, Manifest, SegmentRecord, segment_name
from recordings.storage import LocalStorage
from recordings.writer import read_index, read_manifest

logger = logging.getLogger(__name__)

LOOP_FRAMES = 60
SPEAKERS = 3
BROADCAST = "bench"
RENDITION = "720p"


# --- 1. RTP-fed stage -------------------------------------------------------------------------
@dataclass
class Speaker:
    """Pre-encoded media of one speaker: VP8 payloads per frame, Opus payloads per 20 ms."""

    video: list[list[bytes]]
    audio: list[bytes]
    video_track: RtpTrack | None = None
    audio_track: RtpTrack | None = None
    seq: int = 0
    audio_seq: int = 0
    loop_start: int = 0  # output frame at which the loop (and its keyframe) last restarted
    keyframe_asked: bool = False

    def ask_keyframe(self) -> None:
        """The compositor's PLI: restart the loop, whose first frame is a keyframe."""
        self.keyframe_asked = True


def _pre_encode(number: int) -> Speaker:
    source = SyntheticSpeaker(number, 1280, 720, 220.0 * (number + 1))
    encoder = Vp8Encoder()
    encoder.target_bitrate = 1_500_000
    rng = np.random.default_rng(number)
    video = []
    for i in range(LOOP_FRAMES):
        frame = source.frame(i)
        planes = frame.to_ndarray()
        planes[200:720] += rng.integers(0, 12, (520, 1280), dtype=np.uint8)  # camera-like noise
        noisy = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        noisy.pts, noisy.time_base = i * 3000, Fraction(1, 90000)
        payloads, _ = encoder.encode(noisy, force_keyframe=i == 0)
        video.append(payloads)
    opus = OpusEncoder()
    audio = []
    for i in range(50):
        pcm = (source.audio(i * 960, 960) * 20000).astype(np.int16)
        chunk = av.AudioFrame.from_ndarray(np.repeat(pcm, 2).reshape(1, -1), "s16", "stereo")
        chunk.sample_rate, chunk.pts, chunk.time_base = 48000, i * 960, Fraction(1, 48000)
        audio.extend(opus.encode(chunk)[0])
    return Speaker(video, audio)


def _rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool) -> bytes:
    first = bytes([0x80, (0x80 if marker else 0) | pt])
    return (
        first
        + (seq & 0xFFFF).to_bytes(2, "big")
        + (ts & 0xFFFFFFFF).to_bytes(4, "big")
        + (ssrc.to_bytes(4, "big") + payload)
    )


class TracingStage(StageBuffer):
    """A StageBuffer that remembers which source frame (RTP timestamp) each output frame used."""

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.used: dict[int, int] = {}

    def advance(self, t: float) -> None:
        self.index = round(t * 30)

    def video(self, key: SourceKey) -> av.VideoFrame | None:
        frame = super().video(key)
        if frame is not None and frame.pts is not None:
            self.used[self.index] = int(frame.pts)
        return frame


@dataclass
class Feeder:
    """Plays the pre-encoded speakers in real time into the RTP path, like the SFU would."""

    stage: TracingStage
    speakers: list[Speaker]
    decoder: DecodeThread
    sent_at: dict[int, float] = field(default_factory=dict)  # RTP ts -> capture (send) time
    stamps: dict[tuple[int, int], int] = field(default_factory=dict)  # (speaker, ts) -> stamp
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        start = time.monotonic()
        tick = 0
        while not self.stop.is_set():
            now = start + tick / 50  # 20 ms ticks: audio every tick, video on 30 fps boundaries
            self.stop.wait(max(0.0, now - time.monotonic()))
            self._audio(tick)
            if tick * 30 // 50 != (tick - 1) * 30 // 50 or tick == 0:
                self._video(tick * 30 // 50)
            if tick % 250 == 0:  # a new active speaker every 5 s
                pid = f"p{(tick // 250) % len(self.speakers)}"
                self.stage.set_state(StageState(active_speaker=pid))
            tick += 1

    def _video(self, frame: int) -> None:
        ts = frame * 3000
        self.sent_at[ts] = time.monotonic()
        for number, speaker in enumerate(self.speakers):
            if speaker.keyframe_asked:
                speaker.keyframe_asked = False
                speaker.loop_start = frame
            position = (frame - speaker.loop_start) % LOOP_FRAMES
            self.stamps[(number, ts)] = position
            payloads = speaker.video[position]
            for j, payload in enumerate(payloads):
                packet = _rtp(96, speaker.seq, ts, 1, payload, j == len(payloads) - 1)
                speaker.seq += 1
                assert speaker.video_track is not None
                self.decoder.submit(speaker.video_track, packet)

    def _audio(self, tick: int) -> None:
        for speaker in self.speakers:
            payload = speaker.audio[tick % len(speaker.audio)]
            packet = _rtp(111, speaker.audio_seq, tick * 960, 2, payload, True)
            speaker.audio_seq += 1
            assert speaker.audio_track is not None
            self.decoder.submit(speaker.audio_track, packet)


def build_stage() -> tuple[TracingStage, Feeder]:
    stage = TracingStage()
    speakers = [_pre_encode(i) for i in range(SPEAKERS)]
    decoder = DecodeThread()
    for i, speaker in enumerate(speakers):
        speaker.video_track = video_track(stage, SourceKey(f"p{i}"), "vp8", speaker.ask_keyframe)
        speaker.audio_track = audio_track(stage, f"p{i}")
    return stage, Feeder(stage, speakers, decoder)


# --- helpers ----------------------------------------------------------------------------------
# Two cores: the origin (encoder, decoders, aiohttp) gets CPU 0; the load generator, and the edge
# while viewers are simulated, get CPU 1 — as if the edge were its own machine.
ORIGIN_CPU = 0
LOAD_CPU = 1


def pin(pid: int, cpu: int) -> None:
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})


def pin_edge(edge: NginxEdge, cpu: int) -> None:
    for pid in edge.worker_pids():
        pin(pid, cpu)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def cpu_busy(cpu: int) -> float:
    """Busy seconds of one CPU from /proc/stat (all processes, kernel and softirq included)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(x) for x in line.split()[1:]]
            return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return 0.0


def proc_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
"""

VIEWER_LUA = """
local n = 0
local base = ""
local latest = nil
init = function(args) base = args[1] end
request = function()
  n = n + 1
  if n % 2 == 1 or latest == nil then return wrk.format("GET", base .. "playlist.m3u8") end
  return wrk.format("GET", base .. latest)
end
response = function(status, headers, body)
  if status == 200 and string.sub(body, 1, 7) == "#EXTM3U" then
    local last = nil
    for name in string.gmatch(body, "seg_%d+%.m4s") do last = name end
    if last then latest = last end
  end
end
delay = function() return 1000 end
"""


async def wrk(
    url: str, conns: int, seconds: float, lua: str, args: list[str], root: Path
) -> dict[str, Any]:
    script = root / f"wrk-{time.monotonic_ns()}.lua"
    script.write_text(lua + WRK_DONE)
    threads = min(2, conns)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(conns),
        "-d",
        f"{round(seconds)}s",
        "--timeout",
        "2s",
        "-s",
        str(script),
        url,
        *args,
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=lambda: pin(0, LOAD_CPU),
    )
    out, _ = await proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [x for x in out.decode().splitlines() if x.startswith("WRKJSON ")]
    if not lines:
        raise RuntimeError(f"wrk failed: {' '.join(cmd)}\n{out.decode()}")
    line = lines[0]
    result: dict[str, Any] = json.loads(line[8:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["wrk_cores"] = (
        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    ) / seconds
    return result


# --- origin -----------------------------------------------------------------------------------
async def start_origin(registry: OutputRegistry, seen: Counter[str]) -> tuple[web.AppRunner, int]:
    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        seen["all"] += 1
        return await handler(request)

    app = web.Application(middlewares=[count])
    add_routes(app, registry)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    return runner, port


# --- 2. latency -------------------------------------------------------------------------------
@dataclass
class Latency:
    """Glass-to-glass samples (seconds) and how many frame stamps matched."""

    segments: list[float] = field(default_factory=list)
    parts: list[float] = field(default_factory=list)
    stamps_ok: int = 0
    stamps_checked: int = 0


def _first_stamp(init: bytes, segment: bytes) -> tuple[int, int]:
    """(loop frame counter, speaker number) stamped in the segment's first picture."""
    with av.open(io.BytesIO(init + segment), "r") as container:
        for frame in container.decode(video=0):
            return read_stamp(frame.to_ndarray(format="gray"))
    return -1, -1


async def measure_latency(
    base: str, pipeline: BroadcastPipeline, stage: TracingStage, feeder: Feeder, until: float
) -> Latency:
    out = Latency()
    live = pipeline.output.renditions[RENDITION]
    msn = live.next_msn() + 1
    async with aiohttp.ClientSession() as http:
        init = await (await http.get(base + "init.mp4")).read()
        while time.monotonic() < until:
            await (await http.get(f"{base}playlist.m3u8?_HLS_msn={msn}&_HLS_part=0")).read()
            await (await http.get(base + part_name(msn, 0))).read()
            part_done = time.monotonic()
            await (await http.get(f"{base}playlist.m3u8?_HLS_msn={msn}")).read()
            segment = await (await http.get(base + segment_name(msn))).read()
            seg_done = time.monotonic()
            ts = stage.used.get(msn * pipeline.output.timing.segment_frames)
            if ts is not None and ts in feeder.sent_at:
                captured = feeder.sent_at[ts]
                out.parts.append(part_done - captured)
                out.segments.append(seg_done - captured)
                stamp, speaker = await asyncio.to_thread(_first_stamp, init, segment)
                out.stamps_checked += 1
                out.stamps_ok += feeder.stamps.get((speaker, ts)) == stamp
            msn += 1
    return out


# --- 4. viewers -------------------------------------------------------------------------------
async def viewers(
    edge: NginxEdge,
    seen: Counter[str],
    root: Path,
    steps: list[int],
    seconds: float,
) -> dict[str, Any]:
    best: dict[str, Any] = {
        "viewers_sustained": None,
        "viewers_per_edge_core": None,
        "viewers_per_core_incl_load_and_kernel": None,
        "origin_request_fraction": None,
        "viewer_steps": [],
    }
    base = f"/hls/{BROADCAST}/{RENDITION}/"
    pin_edge(edge, LOAD_CPU)
    for count in steps:
        origin_before = seen["all"]
        cpu_before = proc_cpu(edge.worker_pids())
        busy_before = cpu_busy(LOAD_CPU)
        result = await wrk(edge.url + base, count, seconds, VIEWER_LUA, [base], root)
        edge_cores = (proc_cpu(edge.worker_pids()) - cpu_before) / seconds
        load_cpu_busy = (cpu_busy(LOAD_CPU) - busy_before) / seconds
        origin = seen["all"] - origin_before
        # Each connection waits 1 s after every answer (and before its first request).
        expected = count * (seconds - 1) / (1 + result["mean_ms"] / 1000)
        errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
        # Every request answered in time (wrk's --timeout 2s counts as an error), 99 % within
        # 1 s, and the generator really made the requests (it waits 1 s after each answer).
        ok = (
            errors == 0
            and result["max_ms"] < 2000
            and result["p99_ms"] < 1000
            and result["requests"] >= 0.8 * expected
        )
        step = {
            "viewers": count,
            "ok": ok,
            "requests": result["requests"],
            "errors": errors,
            "mean_ms": result["mean_ms"],
            "p99_ms": result["p99_ms"],
            "max_ms": result["max_ms"],
            "edge_cores": edge_cores,
            "wrk_cores": result["wrk_cores"],
            "cpu1_busy": round(load_cpu_busy, 3),  # nginx + wrk + kernel on the load core
            "origin_requests": origin,
            "gbit_s": result["bytes"] * 8 / seconds / 1e9,
        }
        best["viewer_steps"].append(step)
        if not ok:
            break
        best["viewers_sustained"] = count
        best["viewers_per_edge_core"] = round(count / edge_cores) if edge_cores > 0 else None
        # Conservative: everything on the edge's core counted as edge (wrk and kernel too).
        best["viewers_per_core_incl_load_and_kernel"] = (
            round(count / load_cpu_busy) if load_cpu_busy > 0 else None
        )
        best["origin_request_fraction"] = origin / max(1, result["requests"])
    return best


# --- 3. throughput ----------------------------------------------------------------------------
async def throughput(origin_url: str, edge_url: str, seq: int, root: Path) -> dict[str, Any]:
    base = f"/hls/{BROADCAST}/{RENDITION}/"
    urls = {"segment": base + segment_name(seq), "playlist": base + "playlist.m3u8"}
    out: dict[str, Any] = {}
    for what, path in urls.items():
        for where, host in (("server", origin_url), ("nginx", edge_url)):
            result = await wrk(host + path, 64, 5, "", [], root)
            out[f"{what}_rps_{where}"] = round(result["rps"])
            out[f"{what}_wrk_cores_{where}"] = round(result["wrk_cores"], 2)
    return out


# --- main -------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="urok-bench-"))
    try:
        return await _run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    stage, feeder = build_stage()
    storage = LocalStorage(root / "recordings")
    spec = RenditionSpec(cbr=True)  # a 2.5 Mbit/s stream whatever the test pattern
    pipeline = open_broadcast(BROADCAST, stage, storage, (spec,), realtime=True)
    registry = OutputRegistry(storage)
    registry.add(pipeline.output)
    seen: Counter[str] = Counter()
    runner, port = await start_origin(registry, seen)
    origin_url = f"http://127.0.0.1:{port}"
    edge = NginxEdge(root / "nginx", f"127.0.0.1:{port}", free_port(), workers=args.edge_workers)
    edge.start()
    feed = threading.Thread(target=feeder.run, daemon=True)
    feed.start()
    pipeline.start()
    result: dict[str, Any] = {}
    try:
        result.update(await _encode_and_latency(args, pipeline, stage, feeder, origin_url))
        if args.viewers:
            steps = [int(x) for x in args.viewer_steps.split(",")]
            result.update(await viewers(edge, seen, root, steps, args.viewer_seconds))
        feeder.stop.set()
        await asyncio.to_thread(pipeline.stop)
        newest = pipeline.output.renditions[RENDITION].next_msn() - 1
        pin_edge(edge, ORIGIN_CPU)  # the server under test gets CPU 0, wrk CPU 1, in turn
        result.update(await throughput(origin_url, edge.url, newest, root))
        segment = pipeline.output.renditions[RENDITION].segment(newest) or b""
        result["segment_bytes"] = len(segment)
    finally:
        feeder.stop.set()
        feed.join()
        await asyncio.to_thread(pipeline.close)
        feeder.decoder.close()
        edge.stop()
        await runner.cleanup()
    result["rss_mb_end"] = rss_mb()
    result.update(await recording_figures(storage))
    return result


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def recording_figures(storage: LocalStorage) -> dict[str, Any]:
    """Bytes per minute of the 720p recording, and time to the first MP4 byte of 1 hour.

    The hour is this run's segments hard-linked over and over under a second id (1,800
    segments, a real index and manifest): the remux starts the same way whatever follows.
    """
    manifest = read_manifest(storage, BROADCAST)
    minutes = manifest.duration / 60
    out: dict[str, Any] = {
        "recording_mb_per_minute": round(manifest.size / 1e6 / minutes, 2) if minutes else None
    }
    hour = _fake_hour(storage, manifest)
    start = time.monotonic()
    chunks = stream_mp4(storage, hour.id)
    first = await anext(chunks)
    out["mp4_ttfb_s_1h"] = round(time.monotonic() - start, 3)
    await chunks.aclose()
    assert first[4:8] == b"ftyp"
    return out


def _fake_hour(storage: LocalStorage, manifest: Manifest) -> Manifest:
    records = read_index(storage, manifest.id, RENDITION)
    src = storage.root / manifest.id / RENDITION
    dst = storage.root / "hour" / RENDITION
    dst.mkdir(parents=True)
    os.link(src / INIT, dst / INIT)
    lines = []
    for seq in range(1800):
        record = records[seq % len(records)]
        os.link(src / record.name, dst / segment_name(seq))
        lines.append(SegmentRecord(seq, record.duration, record.size, seq * 2.0).to_line())
    (dst / INDEX).write_bytes(b"".join(lines))
    info = replace(manifest.renditions[0], segments=1800, duration=3600.0)
    hour = replace(manifest, id="hour", renditions=(info,))
    storage.write_atomic("hour/" + MANIFEST, hour.to_json())
    return hour


async def _encode_and_latency(
    args: argparse.Namespace,
    pipeline: BroadcastPipeline,
    stage: TracingStage,
    feeder: Feeder,
    origin_url: str,
) -> dict[str, Any]:
    await asyncio.sleep(args.warmup)
    rss_start = rss_mb()
    frames0, cpu0, wall0 = pipeline.frames, cpu_seconds(), time.monotonic()
    until = wall0 + args.encode_seconds
    base = f"{origin_url}/hls/{BROADCAST}/{RENDITION}/"
    latency = await measure_latency(base, pipeline, stage, feeder, until)
    wall = time.monotonic() - wall0
    cpu = cpu_seconds() - cpu0
    frames = pipeline.frames - frames0
    return {
        # CPU per produced frame x 30: the cost of a 720p30 encode even if the box is busy.
        "encode_cores_720p30": round(cpu / max(1, frames) * 30, 3),
        "encode_realtime_ratio": round(frames / (wall * 30), 3),
        "latency_s": round(float(np.mean(latency.segments)), 3) if latency.segments else None,
        "latency_max_s": round(max(latency.segments), 3) if latency.segments else None,
        "latency_part_s": round(float(np.mean(latency.parts)), 3) if latency.parts else None,
        "latency_samples": len(latency.segments),
        "rss_mb_start": rss_start,
        "latency_stamps_ok": f"{latency.stamps_ok}/{latency.stamps_checked}",
        "decode_errors": sum(
            s.video_track.decode_errors for s in feeder.speakers if s.video_track is not None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--encode-seconds", type=float, default=20.0)
    parser.add_argument("--viewers", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--viewer-steps", default="250,500,1000,2000,4000,7000,10000")
    parser.add_argument("--viewer-seconds", type=float, default=10.0)
    parser.add_argument("--edge-workers", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    pin(0, ORIGIN_CPU)  # before any thread starts: they inherit it
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    result = asyncio.run(run(args))
    result["machine"] = f"{os.cpu_count()} cores, {platform.machine()}, loopback"
    result["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)  # the machine is shared
    print_result(result, args.json)


if __name__ == "__main__":
    main()
