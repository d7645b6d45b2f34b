"""The `urok` command: `urok serve`, `urok token`, `urok loadtest` (bench/loadtest.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from signaling import auth
from signaling.config import ConfigError, Settings, load, secret_from_data_dir

logger = logging.getLogger("urok")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="urok", description="School video lessons and broadcasts")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--state", help="'memory' (default) or a redis:// URL")
    serve.add_argument("--public-url", dest="public_url")
    serve.add_argument("--ice-address", dest="ice_addresses", action="append")
    serve.add_argument("--log-format", dest="log_format", choices=["text", "json"])
    serve.add_argument("--no-media", dest="media", action="store_const", const=False)
    serve.add_argument("--workers", type=int, help="worker processes (needs --state redis://)")
    serve.add_argument("--no-demo", action="store_true", help="do not create the demo room")
    token = sub.add_parser("token", help="mint a join token")
    _common(token)
    token.add_argument("--room", help="room id ('*' or omitted: any room of the org)")
    token.add_argument("--name", required=True)
    token.add_argument("--role", default="teacher", choices=[r for r in auth.ROLES if r != "guest"])
    token.add_argument("--user-id", dest="user_id")
    token.add_argument("--org")
    token.add_argument("--group")
    token.add_argument("--ttl", type=int, default=6 * 3600, help="seconds")
    loadtest = sub.add_parser(
        "loadtest",
        help="join synthetic participants to one room and measure (urok loadtest --help)",
        add_help=False,
    )
    loadtest.add_argument("options", nargs="*", help="see urok loadtest --help")
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML settings file")
    p.add_argument("--data-dir", dest="data_dir", type=Path)


def _settings(args: argparse.Namespace, keys: tuple[str, ...]) -> Settings:
    overrides: dict[str, Any] = {k: getattr(args, k, None) for k in keys}
    return load(args.config, overrides=overrides)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["loadtest"]:  # its own options (bench/loadtest.py), imported only here
        from bench.loadtest import main as loadtest

        return loadtest(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            keys: tuple[str, ...] = ("host", "port", "state", "public_url", "ice_addresses")
            keys += ("log_format", "media", "workers")
            return _serve(_settings(args, (*keys, "data_dir")), demo=not args.no_demo)
        return _token(args, _settings(args, ("data_dir",)))
    except ConfigError as exc:
        print(f"urok: {exc}", file=sys.stderr)
        return 2


def _token(args: argparse.Namespace, settings: Settings) -> int:
    secret, _ = secret_from_data_dir(settings)
    user_id = args.user_id or f"{args.role}:{args.name}"
    token = auth.mint(
        secret,
        user_id=user_id,
        name=args.name,
        role=args.role,
        org=args.org,
        group=args.group,
        room=args.room,
        ttl_s=args.ttl,
    )
    print(token)
    if args.room and args.room != "*":
        print(f"{settings.base_url()}/r/{args.room}?token={token}", file=sys.stderr)
    return 0


class _JsonLog(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(_JsonLog())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)


def _serve(settings: Settings, demo: bool) -> int:
    _logging(settings)
    try:
        import uvloop

        uvloop.run(_run(settings, demo))
    except ImportError:
        asyncio.run(_run(settings, demo))
    except KeyboardInterrupt:
        pass
    return 0


async def _run(settings: Settings, demo: bool) -> None:
    from aiohttp import web

    from signaling.app import create_app

    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=True, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    if demo:
        await _demo_room(app, settings)
    print(f"urok is running at {settings.base_url()}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def _demo_room(app: Any, settings: Settings) -> None:
    """A lesson to try at once, and a teacher link for it."""
    from signaling.records import RoomRecord, RoomSettings
    from signaling.ws import HUB

    hub = app[HUB]
    record = await hub.repo.room("demo")
    if record is None or record.ended:
        record = RoomRecord(
            id="demo",
            title="Пробный урок",
            kind="call",
            org=None,
            group=None,
            owner="teacher:demo",
            created_at=time.time(),
            scheduled_start=None,
            settings=RoomSettings(guests_allowed=True),
            host_user="teacher:demo",
        )
        await hub.repo.save_room(record)
    token = auth.mint(
        hub.secret, user_id="teacher:demo", name="Учитель", role="teacher", room="demo"
    )
    print(f"Teacher link: {settings.base_url()}/r/demo?token={token}", flush=True)
    print(f"Student (guest) link: {settings.base_url()}/r/demo", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
