"""Settings layering and validation; join tokens."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from signaling import auth
from signaling.config import ConfigError, load


def test_layers_later_sources_win(tmp_path: Path) -> None:
    toml = tmp_path / "urok.toml"
    toml.write_text(
        'port = 9000\nstate = "redis://127.0.0.1:6379/0"\nice_addresses = ["10.0.0.5"]\n'
    )
    s = load(toml, env={"UROK_PORT": "9100", "UROK_MEDIA": "off"}, overrides={"host": "0.0.0.0"})
    assert (s.port, s.state, s.ice_addresses, s.media, s.host) == (
        9100, "redis://127.0.0.1:6379/0", ("10.0.0.5",), False, "0.0.0.0",
    )  # fmt: skip
    assert s.base_url() == "http://localhost:9100"
    assert load(None, env={}).max_participants == 300


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("prot = 1\n", {}, "unknown setting"),
        ("", {"UROK_PROT": "1"}, "unknown setting"),
        ('port = "eighty"\n', {}, "cannot use"),
        ("media = 3\n", {}, "cannot use"),
        ("max_participants = 301\n", {}, "between 1 and 300"),
        ('state = "postgres://x"\n', {}, "redis://"),
        ("udp_port_min = 5\nudp_port_max = 4\n", {}, "must not exceed"),
    ],
)
def test_bad_settings_are_errors(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load(path, env=env)


def test_token_round_trip_and_grants() -> None:
    token = auth.mint(
        "k" * 32, user_id="t1", name="Анна Петровна Смирнова", role="teacher", org="s1", room="r1"
    )
    ident = auth.verify("k" * 32, token, "r1")
    assert (ident.user_id, ident.role, ident.org, ident.verified) == ("t1", "teacher", "s1", True)
    assert ident.grants.moderate and ident.grants.publish == frozenset({"mic", "camera", "screen"})
    student = auth.verify("k" * 32, auth.mint("k" * 32, user_id="s", name="S", role="student"))
    assert not student.grants.moderate and student.grants.chat and not student.verified
    with pytest.raises(auth.AuthError) as wrong:
        auth.verify("k" * 32, token, "r2")
    assert wrong.value.code == "token_wrong_room"
    old = auth.mint("k" * 32, user_id="x", name="X", role="parent", ttl_s=60, now=time.time() - 120)
    with pytest.raises(auth.AuthError) as expired:
        auth.verify("k" * 32, old)
    assert expired.value.code == "token_expired"
    with pytest.raises(auth.AuthError):
        auth.mint("k" * 32, user_id="x", name="X", role="guest")


def test_guest_identity() -> None:
    guest = auth.guest("  Бабушка   Маши ")
    assert guest.name == "Бабушка Маши" and guest.guest and not guest.grants.chat
    assert "screen" not in guest.grants.publish
    assert auth.guest("Б").user_id != auth.guest("Б").user_id
    with pytest.raises(auth.AuthError) as nameless:
        auth.guest(" ")
    assert nameless.value.code == "name_required"
