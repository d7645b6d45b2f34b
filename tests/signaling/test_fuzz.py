"""Fuzz the message parser and the dispatcher (hypothesis): no input escapes as a crash."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling import messages as m
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore
from tests.signaling.conftest import API_KEY, SECRET
from tests.signaling.fakes import FakeMedia

TAGS = [cls.__struct_config__.tag for cls in m.ClientMessage.__args__]  # type: ignore[attr-defined]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_parser_on_random_bytes(data: bytes) -> None:
    try:
        m.decode(data)
    except m.ProtocolError as exc:
        assert exc.code in {"bad_json", "unknown_type", "invalid_message"}


@st.composite
def frames(draw: st.DrawFn, ids: list[str]) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": draw(st.sampled_from([*TAGS, "nope"])),
        "id": draw(st.integers(0, 10**6)),
    }
    fields = ["participant", "source", "enabled", "text", "message", "locked", "room", "version"]
    fields += ["participants_may_unmute", "chat", "waiting_room", "sdp", "candidate", "reason"]
    for name in draw(st.lists(st.sampled_from(fields), max_size=4, unique=True)):
        frame[name] = draw(
            st.sampled_from(ids) | st.sampled_from(["mic", "camera", "screen"]) | json_values
        )
    return frame


FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@FUZZ
@given(st.lists(frames(["x"]), max_size=5))
def test_parser_on_structured_garbage(batch: list[dict[str, Any]]) -> None:
    for frame in batch:
        try:
            msg = m.decode(json.dumps(frame))
        except m.ProtocolError as exc:
            assert exc.code in {"unknown_type", "invalid_message"}
        else:
            assert isinstance(msg, m.ClientMsg)


async def _scenario(tmp: Path, script: list[tuple[int, dict[str, Any]]]) -> None:
    settings = Settings(data_dir=tmp, secret=SECRET, api_keys=(API_KEY,), ws_rate_per_s=1000)
    app = create_app(settings, media=FakeMedia(), store=MemoryStore())
    async with TestClient(TestServer(app)) as client:
        resp = await client.post(
            "/api/rooms",
            json={"title": "fuzz", "id": "fuzz-room", "settings": {"waiting_room": False}},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        assert resp.status == 201
        from signaling import auth

        socks: list[aiohttp.ClientWebSocketResponse] = []
        pids: dict[str, str] = {}
        for i, role in enumerate(("teacher", "student", "student")):
            ws = await client.ws_connect("/ws")
            token = auth.mint(SECRET, user_id=f"u{i}", name=f"N{i}", role=role)  # type: ignore[arg-type]
            await ws.send_str(
                json.dumps(
                    {"type": "join", "id": 0, "room": "fuzz-room", "version": 1, "token": token}
                )
            )
            welcome = m.decode_frame((await ws.receive(timeout=3)).data)[0]
            assert isinstance(welcome, m.Welcome | m.Waiting)
            pids[f"${i}"] = welcome.you.id
            socks.append(ws)
        for who, frame in script:
            real = {k: pids.get(v, v) if isinstance(v, str) else v for k, v in frame.items()}
            await socks[who % 3].send_str(json.dumps(real))
        for n, ws in enumerate(socks):
            if ws.closed:
                continue
            await ws.send_str(json.dumps({"type": "ping", "id": f"final{n}"}))
            while True:
                msg = await ws.receive(timeout=3)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                parsed = m.decode_frame(msg.data)
                assert not any(
                    isinstance(p, m.Error) and p.code == "internal_error" for p in parsed
                )
                if any(isinstance(p, m.Pong) for p in parsed):
                    break


@settings(FUZZ, max_examples=40)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), frames(["$0", "$1", "$2", "p-unknown", "fuzz-room"])),
        max_size=12,
    )
)
def test_dispatcher_survives_any_sequence(
    tmp_path: Path, script: list[tuple[int, dict[str, Any]]]
) -> None:
    asyncio.run(_scenario(tmp_path, script))
