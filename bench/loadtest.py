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

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp

from bench import loadtest_media as media
from bench.loadtest_config import Config, build_parser, config_from, plans, scaled
from bench.loadtest_peer import JoinError, Peer
from bench.loadtest_report import Measured, carried, human, results
from bench.loadtest_server import (
    OwnServer,
    cpu_times,
    create_room,
    tree_cpu_seconds,
    udp_receive_errors,
)
from signaling import auth
from signaling.messages import Source

JOIN_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 15.0
DRAIN_S = 0.3
CONSENT_EVERY_S = 5.0


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


async def _measure(
    peers: list[Peer], sender: media.Sender, c: Config, pid: int | None
) -> tuple[Measured, dict[int, dict[int, tuple[int, int]]]]:
    starts = {id(p): p.snapshot() for p in peers}
    for peer in peers:
        peer.latency = []
    tree0 = tree_cpu_seconds(pid) if pid else {}
    gen0, errors0, cpus0 = time.process_time(), udp_receive_errors(), cpu_times()
    t0 = time.monotonic()
    sent0, lags0, skipped0 = sender.packets_sent, len(sender.lags), sender.skipped()
    await asyncio.sleep(c.duration)
    sender.paused = True  # packets still in flight arrive during DRAIN_S and are counted
    wall = time.monotonic() - t0
    sent = sender.packets_sent - sent0
    tree1 = tree_cpu_seconds(pid) if pid else {}
    per_process = {p: tree1[p] - tree0.get(p, 0.0) for p in tree1}
    server_cpu = sum(per_process.values()) if pid else None
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
        server_processes=[per_process[p] for p in sorted(per_process)],
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


async def run(c: Config, full: Config) -> dict[str, Any]:
    """One load test, start to finish; always stops its server and closes its sockets."""
    server = None if c.url else OwnServer(c.pin, c.egress, c.egress_share)
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


def _quiet_logs() -> None:
    """aiortc/aioice complain once their socket is taken away (consent fails later); the
    run's own figures say what matters."""
    logging.basicConfig(level=logging.WARNING)
    for name in ("aioice", "aiortc", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _run_loop(main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """On uvloop, as the server runs (the generator reads ~100,000 datagrams a second)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


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
        result = _run_loop(run(config, full))
    except (RuntimeError, OSError, aiohttp.ClientError) as exc:
        print(f"urok loadtest: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False) if config.json else human(result), flush=True)
    return 0 if result["participants"] == config.participants else 1


if __name__ == "__main__":
    raise SystemExit(main())
