"""`urok loadtest`: N synthetic participants in ONE room of a urok server (like `lk load-test`).

Every participant joins through the real signaling WebSocket (token → join → set_media →
media_offer / media_answer → the SFU's own offer answered → view) and a real aiortc peer
connection for ICE and DTLS, then sends and reads on the raw UDP socket
(bench/loadtest_peer.py): publishers send pre-built, pre-protected VP8 / Opus-sized packets at
the rates of bench/loadtest_media.py (simulcast l/m/h by rid, or one layer), everyone counts
what arrives per SSRC without decrypting it (loss from sequence gaps, latency from
abs-send-time), and one sample packet per received stream is decrypted at the end.

    urok loadtest --participants 20 --video-publishers 4 --speakers 2 --duration 10 [--json]
    urok loadtest --profile lesson300 [--scale 0.3] [--json]

Without --url the tool starts its own server (`python -m signaling.cli serve` on free
127.0.0.1 ports, ICE on 127.0.0.1, a known secret), pinned to CPU 0 with the generator on the
other CPUs, and reads the server's CPU from /proc/<pid>/stat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from bench import loadtest_media as media
from bench.loadtest_peer import JoinError, Peer, Plan, percentile
from signaling import auth
from signaling.messages import Source

SECRET = "loadtest-secret-0123456789abcdef0123456789"
API_KEY = "loadtest-api-key"
HOST_USER = "loadtest:host"
JOIN_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 15.0
DRAIN_S = 0.3
CONSENT_EVERY_S = 5.0
LAST_N = 25  # sfu.room.LAST_N: videos a subscriber receives at most
AUDIO_SLOTS = 4  # sfu.speakers.LOUDEST_K (3) + the host's mic

PROFILES: dict[str, dict[str, Any]] = {
    # a lesson of 300: the teacher (host) with a 3-layer camera, a screen share and a mic;
    # 30 more cameras (their mics on, silent unless speaking); 3 speakers; 25 tiles each
    "lesson300": {
        "participants": 300,
        "video_publishers": 31,
        "audio_publishers": 31,
        "speakers": 3,
        "tiles": 25,
        "screen": True,
        "simulcast": True,
    },
}
DEFAULTS: dict[str, Any] = {
    "participants": 10,
    "video_publishers": 2,
    "audio_publishers": 2,
    "speakers": 1,
    "tiles": 25,
    "screen": False,
    "simulcast": True,
}


@dataclass(frozen=True)
class Config:
    """One run: the room's make-up (already scaled), the run's length, where the server is."""

    participants: int
    video_publishers: int
    audio_publishers: int
    speakers: int
    tiles: int
    screen: bool
    simulcast: bool
    duration: float
    warmup: float
    scale: float
    profile: str | None
    url: str | None
    secret: str
    api_key: str
    server_pid: int | None
    join_concurrency: int
    pin: bool
    json: bool


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="urok loadtest",
        description="Join synthetic participants to one room and measure the server.",
    )
    p.add_argument("--participants", type=int, help="participants in the room (default 10)")
    p.add_argument("--video-publishers", type=int, help="cameras on (default 2)")
    p.add_argument("--audio-publishers", type=int, help="mics on (default 2)")
    p.add_argument("--speakers", type=int, help="mics sending loud levels (default 1)")
    p.add_argument("--tiles", type=int, help="thumbnail tiles each participant reports (25)")
    p.add_argument("--screen", action="store_true", default=None, help="the host shares a screen")
    p.add_argument(
        "--simulcast",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cameras send l/m/h layers by rid (default) or one layer",
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of media before measuring")
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="lesson300: 300 participants, the host's camera + screen + mic, 30 more cameras, "
        "3 speakers, 25 tiles each",
    )
    p.add_argument("--scale", type=float, default=1.0, help="0 < F <= 1: scale the profile down")
    p.add_argument("--url", help="an existing server (http://host:port); needs --secret, --api-key")
    p.add_argument("--secret", help="the server's token secret (with --url)")
    p.add_argument("--api-key", help="a REST API key of the server (with --url)")
    p.add_argument("--server-pid", type=int, help="with --url: read this process's CPU")
    p.add_argument("--join-concurrency", type=int, default=10, help="joins in flight at once")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and generator")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def config_from(args: argparse.Namespace) -> Config:
    """Explicit flags > the profile > defaults; then --scale. Raises ValueError."""
    values = dict(DEFAULTS)
    values.update(PROFILES.get(args.profile or "", {}))
    for key in DEFAULTS:
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if not 0 < args.scale <= 1:
        raise ValueError("--scale must be in (0, 1]")
    if args.url and not (args.secret and args.api_key):
        raise ValueError("--url needs --secret and --api-key")
    config = Config(
        **values,
        duration=args.duration,
        warmup=args.warmup,
        scale=args.scale,
        profile=args.profile,
        url=args.url.rstrip("/") if args.url else None,
        secret=args.secret or SECRET,
        api_key=args.api_key or API_KEY,
        server_pid=args.server_pid,
        join_concurrency=max(1, args.join_concurrency),
        pin=not args.no_pin and not args.url and len(os.sched_getaffinity(0)) > 1,
        json=args.json,
    )
    checked(config)
    return config


def checked(c: Config) -> None:
    if not 1 <= c.participants <= 300:
        raise ValueError("--participants must be 1..300 (a room's limit)")
    if not 0 <= c.video_publishers <= c.participants:
        raise ValueError("--video-publishers must be 0..participants")
    if not 0 <= c.audio_publishers <= c.participants:
        raise ValueError("--audio-publishers must be 0..participants")
    if not 0 <= c.speakers <= c.audio_publishers:
        raise ValueError("--speakers must be 0..audio publishers")
    if not 0 <= c.tiles <= 100 or c.duration <= 0 or c.warmup < 0:
        raise ValueError("--tiles must be 0..100, --duration > 0, --warmup >= 0")


def scaled(c: Config) -> Config:
    """Participants and publishers times ``c.scale`` (each kind kept if it was there)."""

    def part(n: int, least: int) -> int:
        return 0 if n == 0 else max(least, round(n * c.scale))

    participants = part(c.participants, 2)
    return replace(
        c,
        participants=participants,
        video_publishers=min(participants, part(c.video_publishers, 1)),
        audio_publishers=min(participants, part(c.audio_publishers, 1)),
        speakers=min(participants, part(c.speakers, 1)),
    )


def plans(c: Config) -> list[Plan]:
    """Participant 0 is the host (a teacher); publishers come first, then viewers."""
    found = []
    for i in range(c.participants):
        found.append(
            Plan(
                index=i,
                user_id=HOST_USER if i == 0 else f"loadtest:{i}",
                name="Учитель" if i == 0 else f"Ученик {i}",
                role="teacher" if i == 0 else "student",
                mic=i < c.audio_publishers,
                camera=i < c.video_publishers,
                screen=c.screen and i == 0,
                loud=i < c.speakers,
            )
        )
    return found


def expected_forwarded_pps(c: Config) -> float:
    """Packets/s all participants should receive: last-N videos (the host's camera and the
    screen first; cameras on their lowest layer with simulcast, as thumbnails get) and the
    loud voices plus the host's mic (loudest-K). The model behind the full-scale projection."""
    camera = media.layer_pps(media.LOW if c.simulcast else media.SINGLE)
    total = 0.0
    for i in range(c.participants):
        videos = [camera] * (c.video_publishers - (1 if i < c.video_publishers else 0))
        if c.screen and i != 0:
            videos.insert(0, media.layer_pps(media.SCREEN))
        voices = {j for j in range(c.speakers) if j != i}
        if c.audio_publishers and i != 0:
            voices.add(0)
        total += sum(videos[:LAST_N]) + min(AUDIO_SLOTS, len(voices)) * media.layer_pps(media.AUDIO)
    return total


# ---- the server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times() -> dict[int, tuple[float, float]]:
    """Each CPU's (busy, softirq) seconds since boot, from /proc/stat (busy: not idle or
    iowait — every process and interrupt, ours and others')."""
    found = {}
    tick = os.sysconf("SC_CLK_TCK")
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields[:8]]
            busy = sum(values) - values[3] - values[4]
            found[int(name[3:])] = (busy / tick, values[6] / tick)
    return found


def udp_receive_errors() -> int:
    """The kernel's UDP RcvbufErrors (datagrams dropped on full socket buffers), machine-wide."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        lines = [x.split() for x in Path("/proc/net/snmp").read_text().splitlines()]
        names, values = [x for x in lines if x[0] == "Udp:"][:2]
        return int(values[names.index("RcvbufErrors")])
    return 0


class OwnServer:
    """`python -m signaling.cli serve` on free 127.0.0.1 ports with a known secret and key."""

    def __init__(self, pin: bool) -> None:
        self.pin = pin
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="urok-loadtest-"))
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        env = {**os.environ, "UROK_SECRET": SECRET, "UROK_API_KEYS": API_KEY}
        env["UROK_LOG_LEVEL"] = "WARNING"
        cmd = [sys.executable, "-m", "signaling.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--ice-address", "127.0.0.1", "--no-demo"]
        cmd += ["--data-dir", str(self.dir / "data"), "--state", "memory"]
        with (self.dir / "server.log").open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        if self.pin:
            os.sched_setaffinity(self.proc.pid, {0})
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                if self.proc.returncode is not None:
                    break
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not start:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.dir / "server.log").read_text().splitlines()[-lines:])
        return ""

    async def stop(self) -> None:
        """Terminate (then kill) the server and remove its directory; idempotent."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await asyncio.wait_for(self.proc.wait(), 10)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the run ------------------------------------------------------------------------------


async def create_room(http: aiohttp.ClientSession, base: str, api_key: str) -> str:
    body = {"title": "urok loadtest", "owner": HOST_USER, "settings": {"waiting_room": False}}
    headers = {"Authorization": f"Bearer {api_key}"}
    async with http.post(f"{base}/api/rooms", json=body, headers=headers) as resp:
        if resp.status != 201:
            raise RuntimeError(f"creating the room: HTTP {resp.status} {await resp.text()}")
        room: str = (await resp.json())["id"]
        return room


async def _send_loop(sender: media.Sender, stop: asyncio.Event) -> None:
    while not stop.is_set():
        sender.tick(time.monotonic())
        delay = sender.next_due() - time.monotonic()
        await asyncio.sleep(min(max(delay, 0.001), media.Sender.TICK_S))


async def _consent_loop(peers: list[Peer], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for i, peer in enumerate(peers):
            # one check per participant every CONSENT_EVERY_S, spread over the interval
            if int(time.monotonic()) % int(CONSENT_EVERY_S) == i % int(CONSENT_EVERY_S):
                peer.consent()
        await asyncio.sleep(1.0)


async def _join_all(peers: list[Peer], c: Config) -> list[str]:
    """The host, then the other publishers, then the viewers, ``join_concurrency`` at a time;
    each reports its tiles (the first ``tiles`` cameras, all thumbnails)."""
    gate = asyncio.Semaphore(c.join_concurrency)
    errors: list[str] = []

    async def join(peer: Peer) -> None:
        async with gate:
            try:
                await asyncio.wait_for(peer.join(), JOIN_TIMEOUT_S)
            except (JoinError, TimeoutError, OSError, aiohttp.ClientError) as exc:
                errors.append(f"{peer.plan.user_id}: {type(exc).__name__}: {exc}")

    async def view(peer: Peer) -> None:
        if peer.connected_at is None or not c.tiles:
            return
        cameras: list[tuple[str, Source]] = [
            (p.pid, "camera") for p in peers if p.plan.camera and p.pid and p is not peer
        ]
        try:
            await peer.set_view(cameras[: c.tiles])
        except (JoinError, TimeoutError, OSError, aiohttp.ClientError) as exc:
            errors.append(f"{peer.plan.user_id} view: {type(exc).__name__}: {exc}")

    async def join_and_view(peer: Peer) -> None:
        await join(peer)
        await view(peer)

    await join(peers[0])
    if peers[0].connected_at is None:
        raise RuntimeError(f"the host could not join: {errors}")
    publishers = [p for p in peers[1:] if p.plan.sources()]
    await asyncio.gather(*(join(p) for p in publishers))
    await asyncio.gather(*(view(p) for p in [peers[0], *publishers]))
    await asyncio.gather(*(join_and_view(p) for p in peers[1:] if not p.plan.sources()))
    return errors


async def _settle(peers: list[Peer]) -> None:
    """Until every SFU offer has been answered (bounded)."""
    for _ in range(int(SETTLE_TIMEOUT_S / 0.05)):
        if not any(p.offers_pending for p in peers):
            return
        await asyncio.sleep(0.05)


@dataclass
class Measured:
    """What the measurement window saw."""

    wall: float
    server_cpu: float | None
    loadgen_cpu: float
    sent: int
    cpus: dict[int, tuple[float, float]]  # CPU -> (busy, softirq) share of the window
    lags: list[float]
    skipped: int  # frames the generator sent too late to send at all
    udp_errors: int
    latency: list[float]


async def _measure(peers: list[Peer], sender: media.Sender, c: Config, pid: int | None) -> Any:
    starts = {id(p): p.snapshot() for p in peers}
    for peer in peers:
        peer.latency = []
    cpu0 = cpu_seconds(pid) if pid else 0.0
    gen0, errors0, cpus0 = time.process_time(), udp_receive_errors(), cpu_times()
    t0 = time.monotonic()
    sent0, lags0, skipped0 = sender.packets_sent, len(sender.lags), sender.skipped()
    await asyncio.sleep(c.duration)
    sender.paused = True  # packets still in flight arrive during DRAIN_S and are counted
    wall = time.monotonic() - t0
    sent = sender.packets_sent - sent0
    server_cpu = cpu_seconds(pid) - cpu0 if pid else None
    loadgen_cpu = time.process_time() - gen0
    cpus1 = cpu_times()
    cpus = {
        n: ((busy - cpus0[n][0]) / wall, (irq - cpus0[n][1]) / wall)
        for n, (busy, irq) in cpus1.items()
        if n in cpus0
    }
    await asyncio.sleep(DRAIN_S)
    window = Measured(
        wall=wall,
        server_cpu=server_cpu,
        loadgen_cpu=loadgen_cpu,
        sent=sent,
        cpus=cpus,
        lags=sender.lags[lags0:],
        skipped=sender.skipped() - skipped0,
        udp_errors=udp_receive_errors() - errors0,
        latency=[x for p in peers for x in p.latency or []],
    )
    for peer in peers:
        peer.latency = None
    return window, {id(p): p.window(starts[id(p)]) for p in peers}


def _rel_transit(peers: list[Peer]) -> list[float]:
    """Without abs-send-time: each sample's transit above its stream's fastest packet."""
    found = []
    for peer in peers:
        for transits in peer.transit.values():
            floor = min(transits)
            found += [t - floor for t in transits]
    return found


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def _s(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


CARRIED = {"loss_pct": 1.0, "latency_p95_ms": 100.0}  # the most a run may see and be carried


def carried(r: dict[str, Any]) -> bool:
    """Everyone joined, nothing skipped, loss and p95 latency under CARRIED: the server (and
    the generator) kept up, so the per-packet cost and the projection hold."""
    no_media = r["expected_forwarded_pps"] == 0  # a joins-only run
    within = all(
        (r[k] is None and no_media) or (r[k] is not None and r[k] < limit)
        for k, limit in CARRIED.items()
    )
    joined = r["participants"] == r["participants_requested"]
    return within and joined and r["skipped_frames"] == 0


def results(
    c: Config, full: Config, peers: list[Peer], win: Measured, counts: dict[int, Any], errors: Any
) -> dict[str, Any]:
    joined = [p for p in peers if p.connected_at is not None]
    expected = received = 0
    videos, voices, stream_pps = [], [], []
    for peer in joined:
        per_kind = {"audio": 0, "video": 0}
        for ssrc, (want, got) in counts[id(peer)].items():
            kind = peer.kinds.get(ssrc, "video")
            if kind == "rtx" or got <= 0:
                continue
            expected, received = expected + max(want, got), received + got
            per_kind[kind] += 1
            if kind == "video":
                stream_pps.append(got / win.wall)
        videos.append(per_kind["video"])
        voices.append(per_kind["audio"])
    verified = [p.verify() for p in joined]
    forwarded_pps = received / win.wall
    cpu = win.server_cpu
    us_per_packet = cpu / received * 1e6 if cpu is not None and received else None
    model, model_full = expected_forwarded_pps(c), expected_forwarded_pps(full)
    projected_pps = forwarded_pps * model_full / model if model else None
    joins = [p.connected_at - p.opened_at for p in joined if p.connected_at is not None]
    firsts = [p.first_media_at - p.opened_at for p in joined if p.first_media_at is not None]
    latency = win.latency or _rel_transit(peers)
    return {
        "participants": len(joined),
        "participants_requested": c.participants,
        "video_publishers": c.video_publishers,
        "audio_publishers": c.audio_publishers,
        "speakers": c.speakers,
        "tiles": c.tiles,
        "screen": c.screen,
        "simulcast": c.simulcast,
        "profile": c.profile,
        "scale": c.scale,
        "duration_s": round(win.wall, 2),
        "server_cpu_cores": None if cpu is None else round(cpu / win.wall, 3),
        "loadgen_cpu_cores": round(win.loadgen_cpu / win.wall, 3),
        "forwarded_pps": round(forwarded_pps),
        "expected_forwarded_pps": round(model),
        "sent_pps": round(win.sent / win.wall),
        "loss_pct": round(100 * (expected - received) / expected, 3) if expected else None,
        "latency_p50_ms": _ms(percentile(latency, 50)),
        "latency_p95_ms": _ms(percentile(latency, 95)),
        "latency_source": "abs-send-time" if win.latency else "rtp-timestamp" if latency else None,
        "latency_samples": len(latency),
        "latency_arrival": (
            "kernel (SO_TIMESTAMPNS)" if all(p.kernel_stamps for p in joined) else "read time"
        ),
        "send_lag_p95_ms": _ms(percentile(win.lags, 95)),
        "skipped_frames": win.skipped,
        "join_p50_s": _s(percentile(joins, 50)),
        "join_p95_s": _s(percentile(joins, 95)),
        "join_max_s": _s(max(joins, default=None)),
        "first_media_p50_s": _s(percentile(firsts, 50)),
        "first_media_p95_s": _s(percentile(firsts, 95)),
        "videos_per_viewer_max": max(videos, default=0),
        "videos_per_viewer_min": min(videos, default=0),
        "audio_per_viewer_max": max(voices, default=0),
        "video_pps_per_stream_p50": _s(percentile(stream_pps, 50)),
        "samples_decrypted": sum(ok for ok, _ in verified),
        "samples_checked": sum(tried for _, tried in verified),
        "keyframe_requests_received": sum(p.keyframe_requests for p in peers),
        "sfu_offers_answered": sum(p.offers_answered for p in peers),
        "unreadable_messages": sum(p.unreadable for p in peers),
        "sfu_offer_errors": sum(len(p.offer_errors) for p in peers),
        "sfu_offer_error_samples": [e for p in peers for e in p.offer_errors][:5],
        "paused_layers_at_end": sum(s.paused for p in peers for s in p.out),
        "server_cpu_us_per_forwarded_packet": None
        if us_per_packet is None
        else round(us_per_packet, 2),
        "projected_forwarded_pps_full_scale": None
        if projected_pps is None
        else round(projected_pps),
        "projected_server_cores_full_scale": (
            None
            if us_per_packet is None or projected_pps is None
            else round(us_per_packet * projected_pps / 1e6, 3)
        ),
        "kernel_udp_rcvbuf_errors": win.udp_errors,
        # the whole machine during the window (shared: others' work shows here); pinned runs
        # have the server alone on CPU 0, whose softirq carries its loopback sends
        "cpu_busy": {str(n): round(busy, 3) for n, (busy, _) in win.cpus.items()},
        "cpu_softirq": {str(n): round(irq, 3) for n, (_, irq) in win.cpus.items()},
        "join_errors": errors[:10],
        "join_error_count": len(errors),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_1min_at_end": round(os.getloadavg()[0], 2),
            "pinned": c.pin,
        },
    }


async def run(c: Config, full: Config) -> dict[str, Any]:
    """One load test, start to finish; always stops its server and closes its sockets."""
    server = None if c.url else OwnServer(c.pin)
    stop = asyncio.Event()
    sender = media.Sender()
    peers: list[Peer] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        if server is not None:
            await server.start()
            if c.pin:
                os.sched_setaffinity(0, set(os.sched_getaffinity(0)) - {0} or {0})
        base = server.url if server is not None else c.url
        assert base is not None
        pid = server.pid if server is not None else c.server_pid
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            try:
                room = await create_room(http, base, c.api_key)
                ws_url = base.replace("http", "ws", 1) + "/ws"
                for plan in plans(c):
                    token = auth.mint(
                        c.secret, user_id=plan.user_id, name=plan.name, role=plan.role, room=room
                    )
                    peers.append(Peer(plan, http, ws_url, room, token, c.simulcast, sender))
                tasks += [asyncio.ensure_future(_send_loop(sender, stop))]
                tasks += [asyncio.ensure_future(_consent_loop(peers, stop))]
                joins_started = time.monotonic()
                errors = await _join_all(peers, c)
                join_all_s = time.monotonic() - joins_started
                await _settle(peers)
                await asyncio.sleep(c.warmup)
                win, counts = await _measure(peers, sender, c, pid)
                result = results(c, full, peers, win, counts, errors)
                result["join_all_s"] = round(join_all_s, 2)
                result["carried"] = carried(result)
                await peers[0].end_room()
                return result
            finally:
                stop.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    finally:
        if server is not None:
            await server.stop()


def human(r: dict[str, Any]) -> str:
    scale = f" (scale {r['scale']}, profile {r['profile']})" if r["profile"] else ""
    cores = r["server_cpu_cores"]
    lines = [
        f"participants joined   {r['participants']}/{r['participants_requested']}{scale}",
        f"publishers            {r['video_publishers']} video, {r['audio_publishers']} audio, "
        f"{r['speakers']} speaking; simulcast {'on' if r['simulcast'] else 'off'}; "
        f"{r['tiles']} tiles each",
        f"join (ws → DTLS)      p50 {r['join_p50_s']} s, p95 {r['join_p95_s']} s; first media "
        f"p50 {r['first_media_p50_s']} s, p95 {r['first_media_p95_s']} s; "
        f"all in {r['join_all_s']} s",
        f"forwarded             {r['forwarded_pps']:,} packets/s received by all "
        f"(model {r['expected_forwarded_pps']:,}); sent {r['sent_pps']:,} packets/s",
        f"loss                  {r['loss_pct']} %",
        f"latency               p50 {r['latency_p50_ms']} ms, p95 {r['latency_p95_ms']} ms "
        f"({r['latency_source']} → {r['latency_arrival']} arrival)",
        f"per viewer            ≤ {r['videos_per_viewer_max']} videos, "
        f"≤ {r['audio_per_viewer_max']} voices",
        f"server CPU            {cores} cores, "
        f"{r['server_cpu_us_per_forwarded_packet']} µs per forwarded packet",
        f"load generator CPU    {r['loadgen_cpu_cores']} cores "
        f"(send lag p95 {r['send_lag_p95_ms']} ms)",
        f"machine CPUs busy     {r['cpu_busy']} (softirq {r['cpu_softirq']}), "
        f"load {r['machine']['load_1min_at_end']}",
        f"decrypted samples     {r['samples_decrypted']}/{r['samples_checked']}",
    ]
    lines.append(
        f"carried               {'yes' if r['carried'] else 'NO'} (loss < 1 %, p95 < 100 ms)"
    )
    if r["scale"] < 1:
        lines.append(
            f"full scale (projected) {r['projected_forwarded_pps_full_scale']:,} packets/s → "
            f"{r['projected_server_cores_full_scale']} server cores"
        )
    if r["join_error_count"]:
        lines.append(f"join errors           {r['join_error_count']}: {r['join_errors'][:3]}")
    return "\n".join(lines)


def _quiet_logs() -> None:
    """aiortc/aioice complain once their socket is taken away (consent fails later); the
    run's own figures say what matters."""
    logging.basicConfig(level=logging.WARNING)
    for name in ("aioice", "aiortc", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        full = config_from(args)
    except ValueError as exc:
        parser.error(str(exc))
    config = scaled(full)
    _quiet_logs()
    try:
        import uvloop

        result = uvloop.run(run(config, full))
    except ImportError:
        result = asyncio.run(run(config, full))
    print(json.dumps(result, ensure_ascii=False) if config.json else human(result), flush=True)
    return 0 if result["participants"] == config.participants else 1


if __name__ == "__main__":
    raise SystemExit(main())
