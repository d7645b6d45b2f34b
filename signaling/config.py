"""One typed settings object, from defaults, an optional TOML file, UROK_* environment, and flags.

Later sources win: defaults < TOML file < environment < command-line flags. An unknown key in
any source is an error, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(ValueError):
    """A setting that is unknown or has the wrong type."""


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Field names are the TOML keys; UROK_<NAME> in env."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # base URL printed in links; derived from host/port when empty
    data_dir: Path = Path("./data")
    state: str = "memory"  # "memory" or a redis:// URL
    state_prefix: str = "urok:"
    secret: str = ""  # HS256 key for join tokens; generated into data_dir when empty
    api_keys: tuple[str, ...] = ()  # REST keys; one is generated into data_dir when empty
    timezone: str = "Europe/Moscow"  # for calendar feeds
    log_format: str = "text"  # "text" or "json"
    log_level: str = "INFO"
    media: bool = True  # run the SFU in this process
    workers: int = 1  # worker processes; more than one needs a shared (Redis) state store
    worker_index: int = -1  # set by the supervisor for its workers
    # ICE / media ports
    ice_addresses: tuple[str, ...] = ()  # addresses announced as host candidates
    udp_port_min: int = 0  # 0: any port
    udp_port_max: int = 0
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""  # coturn static-auth-secret (REST credentials)
    turn_ttl_s: int = 3600
    # a second process sends the media copies of some subscribers, so one big room (a lesson
    # of 300) uses two cores (on a machine of two or more, without --workers);
    # media_egress_share: the part of the subscribers it serves
    media_egress: bool = True
    media_egress_share: float = 0.55
    # what the compositor encodes once per recording / broadcast: 720p, 360p, 180p
    renditions: tuple[str, ...] = ("720p",)
    # webhooks for rooms without an organisation's own endpoint
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_retry_s: float = 1.0  # first retry delay; doubles up to a minute
    # limits
    max_participants: int = 300
    whep_max_viewers: int = 50  # sub-second (WHEP) viewers per broadcast; the rest watch HLS
    max_message_bytes: int = 262144  # a media_offer with all receive slots can pass 64 KiB
    chat_max_chars: int = 2000
    chat_history: int = 200
    chat_rate_per_10s: int = 10
    outbox_messages: int = 1024
    ws_rate_per_s: int = 50  # client messages per second per connection (burst: 2 s worth)
    reconnect_grace_s: float = 30.0
    join_timeout_s: float = 10.0
    token_ttl_s: int = 6 * 3600

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


_HINTS = get_type_hints(Settings)
FIELDS = {f.name for f in dataclasses.fields(Settings)}


def _convert(name: str, value: Any) -> Any:
    """Coerce a TOML / env / flag value to the field's type, or raise ConfigError."""
    hint = _HINTS[name]
    origin = get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if hint is Path:
            return Path(str(value))
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
        if hint is str:
            if not isinstance(value, str | int | float):
                raise ValueError(value)
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} as {hint}") from exc
    raise ConfigError(f"setting {name!r}: unsupported type {hint}")


def _check_keys(source: str, keys: Mapping[str, Any]) -> None:
    unknown = sorted(set(keys) - FIELDS)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {source}: {', '.join(unknown)}")


def load(
    toml_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from the layered sources; raise ConfigError on unknown keys or bad types."""
    values: dict[str, Any] = {}
    if toml_path is not None:
        with toml_path.open("rb") as fh:
            data = tomllib.load(fh)
        _check_keys(str(toml_path), data)
        values.update({k: _convert(k, v) for k, v in data.items()})
    env = os.environ if env is None else env
    from_env = {
        k[5:].lower(): v for k, v in env.items() if k.startswith("UROK_") and k != "UROK_CONFIG"
    }
    _check_keys("environment (UROK_*)", from_env)
    values.update({k: _convert(k, v) for k, v in from_env.items()})
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys("flags", flags)
    values.update({k: _convert(k, v) for k, v in flags.items()})
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    """Cross-field checks that a type alone cannot express."""
    if not 1 <= s.max_participants <= 300:
        raise ConfigError("max_participants must be between 1 and 300")
    if not (s.state == "memory" or s.state.startswith(("redis://", "rediss://", "unix://"))):
        raise ConfigError("state must be 'memory' or a redis:// URL")
    unknown = set(s.renditions) - {"720p", "360p", "180p"}
    if unknown or not s.renditions:
        raise ConfigError("renditions: choose from 720p, 360p, 180p")
    if not 0.0 <= s.media_egress_share <= 1.0:
        raise ConfigError("media_egress_share must be between 0 and 1")
    if not 1 <= s.workers <= 64:
        raise ConfigError("workers must be between 1 and 64")
    if s.workers > 1 and s.state == "memory":
        raise ConfigError("workers > 1 share rooms through Redis: set state to a redis:// URL")
    if s.udp_port_min > s.udp_port_max:
        raise ConfigError("udp_port_min must not exceed udp_port_max")
    if s.log_format not in ("text", "json"):
        raise ConfigError("log_format must be 'text' or 'json'")
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {s.timezone!r}") from None
    if s.max_message_bytes < 1024:
        raise ConfigError("max_message_bytes must be at least 1024")


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy with some fields changed (tests and the CLI use it)."""
    return dataclasses.replace(settings, **changes)


def secret_from_data_dir(settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The token secret and API keys, generating and keeping them in data_dir when unset."""
    import secrets

    settings.data_dir.mkdir(parents=True, exist_ok=True)

    def kept(name: str) -> str:
        path = settings.data_dir / name
        if path.exists():
            return path.read_text().strip()
        value = secrets.token_urlsafe(32)
        path.write_text(value + "\n")
        path.chmod(0o600)
        return value

    secret = settings.secret or kept("secret.key")
    keys = settings.api_keys or (kept("api.key"),)
    return secret, keys


__all__ = ["FIELDS", "ConfigError", "Settings", "load", "replace", "validate"]
