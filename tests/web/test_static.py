"""Rules of web/ that hold for the source itself: one file speaks the protocol, no HTML from
strings, every string the markup and code name exists in both catalogues."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from signaling import messages as m

WEB = Path(__file__).resolve().parents[2] / "web"
SOURCES = {
    p.relative_to(WEB).as_posix(): p.read_text()
    for p in WEB.rglob("*.js")
    if p.is_file() and "node_modules" not in p.parts  # npm libraries are not ours
}


def catalogue(lang: str) -> set[str]:
    text = (WEB / "i18n" / f"{lang}.js").read_text()
    return set(re.findall(r'^\s*"?([\w.]+)"?: "', text, re.MULTILINE))


def test_only_protocol_js_speaks_the_wire_protocol() -> None:
    socket = re.compile(r"\bWebSocket\b|\bws\.send\(")
    assert {name for name, text in SOURCES.items() if socket.search(text)} == {"protocol.js"}
    # Client message types (from the schema) are written nowhere else either. Types that are
    # also server events (media_offer...) are event names other files may listen to.
    tags = {t.__struct_config__.tag for t in get_args(m.ClientMessage)}
    events = {t.__struct_config__.tag for t in get_args(m.ServerMessage)}
    assert {tag for tag in tags if f'"{tag}"' not in SOURCES["protocol.js"]} == set()
    for name, text in SOURCES.items():
        if name != "protocol.js":
            found = {tag for tag in tags - events if f'"{tag}"' in text and "_" in tag}
            assert found == set(), (name, found)


def test_no_html_parsing_anywhere() -> None:
    html = re.compile(r"innerHTML|outerHTML\s*=|insertAdjacentHTML|document\.write|DOMParser")
    assert [name for name, text in SOURCES.items() if html.search(text)] == []


def test_catalogues_have_the_same_keys() -> None:
    ru, en = catalogue("ru"), catalogue("en")
    assert len(ru) > 150
    assert ru == en


def test_every_named_string_exists() -> None:
    ru = catalogue("ru")
    markup = "".join(p.read_text() for p in sorted(WEB.glob("*.html")))
    named = set(re.findall(r'data-i18n(?:-aria|-ph|-title)?="([^"]+)"', markup))
    for text in SOURCES.values():
        named |= set(re.findall(r'\bt\("([\w.]+)"', text))
    assert named - ru == set()


def test_every_server_join_error_has_a_message() -> None:
    codes = {
        "room_full", "room_locked", "room_ended", "guests_not_allowed", "token_expired",
        "token_invalid", "token_wrong_room", "banned", "name_required", "room_not_found",
        "unmute_not_allowed", "chat_registered_only", "chat_disabled", "rate_limited",
    }  # fmt: skip
    assert {f"error.{c}" for c in codes} - catalogue("ru") == set()
