"""The figures of a `urok loadtest` run: one JSON object (``results``) and its human
rendering (``human``)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any

from bench.loadtest_config import Config, expected_forwarded_pps
from bench.loadtest_peer import Peer


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
    server_processes: list[float] = field(default_factory=list)  # CPU s, main process first


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by nearest rank, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


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
    c: Config,
    full: Config,
    peers: list[Peer],
    win: Measured,
    counts: dict[int, dict[int, tuple[int, int]]],
    errors: list[str],
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
        # each server process (the main one, then the SFU egress process if any)
        "server_process_cores": [round(s / win.wall, 3) for s in win.server_processes],
        "projected_process_cores_full_scale": [
            round(s / win.wall * projected_pps / forwarded_pps, 3) for s in win.server_processes
        ]
        if projected_pps and forwarded_pps
        else None,
        "egress": c.egress,
        "egress_share": c.egress_share if c.egress else None,
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
