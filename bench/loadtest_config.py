"""`urok loadtest` options: profiles, defaults, --scale, who each participant is, and the
model of what the room should forward (bench/loadtest.py runs it)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace
from typing import Any

from bench import loadtest_media as media
from bench.loadtest_peer import Plan

HOST_USER = "loadtest:host"
SECRET = "loadtest-secret-0123456789abcdef0123456789"
API_KEY = "loadtest-api-key"
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
    egress: bool = False
    egress_share: float = 0.55


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
    p.add_argument(
        "--egress",
        action="store_true",
        help="own server: a second process sends a share of the copies (media_egress); no pinning",
    )
    p.add_argument(
        "--egress-share",
        type=float,
        default=0.55,
        help="with --egress: the share of subscribers the egress process sends to (0.55)",
    )
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
        pin=not args.no_pin
        and not args.egress
        and not args.url
        and len(os.sched_getaffinity(0)) > 1,
        json=args.json,
        egress=bool(args.egress),
        egress_share=args.egress_share,
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
