"""The REST API against the real handlers, checked against the served OpenAPI document."""

from __future__ import annotations

import time
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from signaling import auth
from signaling import messages as m
from signaling.openapi import BINARY, OPERATIONS
from tests.signaling.conftest import SECRET, Peer, Urok


async def _doc(urok: Urok) -> dict[str, Any]:
    resp = await urok.client.get("/api/openapi.json")
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    return doc


def _validator(doc: dict[str, Any], method: str, path: str, status: int) -> jsonschema.Validator:
    op = doc["paths"][path][method.lower()]
    key = str(status) if str(status) in op["responses"] else "default"
    schema = op["responses"][key]["content"]["application/json"]["schema"]
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:doc", resource)
    ref = {"$ref": "urn:doc" + schema["$ref"]}
    return jsonschema.Draft202012Validator(ref, registry=registry)


class Checked:
    """Calls the API and validates every response body against the document."""

    def __init__(self, urok: Urok, doc: dict[str, Any]) -> None:
        self.urok, self.doc = urok, doc
        self.seen: set[tuple[str, str]] = set()

    async def call(self, method: str, path: str, template: str, status: int, **kw: Any) -> Any:
        kw.setdefault("headers", self.urok.api)
        resp = await self.urok.client.request(method, path, **kw)
        body = await resp.json()
        assert resp.status == status, body
        _validator(self.doc, method, template, status).validate(body)
        if 200 <= status < 300:
            self.seen.add((method, template))
        return body


async def test_document_matches_the_router(urok: Urok) -> None:
    doc = await _doc(urok)
    routes = {
        (r.method, r.resource.canonical)
        for r in urok.client.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/")
        and r.method != "HEAD"
    }
    routes.discard(("GET", "/api/openapi.json"))
    documented = {
        (m_.upper(), p) for p, ops in doc["paths"].items() for m_ in ops if m_ != "parameters"
    }
    assert routes == documented == set(OPERATIONS) | set(BINARY)
    jsonschema.Draft202012Validator.check_schema(doc["components"]["schemas"]["RoomView"])


async def test_rooms_lifecycle_follows_the_document(urok: Urok) -> None:
    api = Checked(urok, await _doc(urok))
    body = {"title": "5А: геометрия", "org": "school1", "scheduled_start": time.time() + 3600,
            "settings": {"waiting_room": True, "max_participants": 30, "chat": False}}  # fmt: skip
    room = await api.call("POST", "/api/rooms", "/api/rooms", 201, json=body)
    rid = room["id"]
    assert room["settings"]["max_participants"] == 30 and room["join_url"].endswith(f"/r/{rid}")
    listed = await api.call("GET", "/api/rooms", "/api/rooms", 200)
    assert [r["id"] for r in listed["rooms"]] == [rid]
    got = await api.call("GET", f"/api/rooms/{rid}", "/api/rooms/{room_id}", 200)
    assert got["title"] == "5А: геометрия"
    patched = await api.call(
        "PATCH", f"/api/rooms/{rid}", "/api/rooms/{room_id}", 200,
        json={"title": "5А: алгебра", "settings": {"chat": True}},
    )  # fmt: skip
    assert patched["settings"]["chat"] is True and patched["settings"]["max_participants"] == 30
    info = await api.call(
        "GET", f"/api/rooms/{rid}/info", "/api/rooms/{room_id}/info", 200, headers={}
    )
    assert info == {"id": rid, "title": "5А: алгебра", "kind": "call", "guests_allowed": False,
                    "ended": False, "scheduled_start": body["scheduled_start"]}  # fmt: skip
    host, _ = await urok.join(rid, "Учитель", "teacher")
    people = await api.call(
        "GET", f"/api/rooms/{rid}/participants", "/api/rooms/{room_id}/participants", 200
    )
    assert [p["name"] for p in people["participants"]] == ["Учитель"]
    ended = await api.call("POST", f"/api/rooms/{rid}/end", "/api/rooms/{room_id}/end", 200)
    assert ended["ended_at"] is not None
    assert (await host.next(m.RoomEnded)).reason == "ended_by_api"
    assert await api.call("GET", "/api/rooms", "/api/rooms", 200) == {"rooms": []}


async def test_a_live_room_hears_about_rest_changes(urok: Urok) -> None:
    room, host = await urok.lesson()
    resp = await urok.client.patch(
        f"/api/rooms/{room}", json={"settings": {"locked": True}}, headers=urok.api
    )
    assert resp.status == 200
    assert (await host.next(m.RoomChanged)).room.locked is True


async def test_invite_links(urok: Urok) -> None:
    api = Checked(urok, await _doc(urok))
    room, host = await urok.lesson()
    invite = await api.call(
        "POST", "/api/invites", "/api/invites", 201,
        json={"room": room, "role": "parent", "group": "5А", "max_uses": 2, "expires_in_s": 3600},
    )  # fmt: skip
    assert invite["state"] == "active" and invite["uses"] == 0
    path = f"/api/invites/{invite['id']}/redeem"
    template = "/api/invites/{invite_id}/redeem"
    first = await api.call("POST", path, template, 201, json={"name": "Ольга Смирнова"}, headers={})
    ident = auth.verify(SECRET, first["token"], room)
    assert ident.role == "parent" and ident.group == "5А" and ident.name == "Ольга Смирнова"
    peer, reply = await urok.join(room, "", token=first["token"])
    assert isinstance(reply, m.Waiting) and reply.you.role == "parent"
    await api.call("POST", path, template, 201, json={"name": "Второй"}, headers={})
    used_up = await api.call("POST", path, template, 410, json={"name": "Третий"}, headers={})
    assert used_up["error"]["code"] == "invite_used_up"
    listed = await api.call("GET", "/api/invites", "/api/invites", 200)
    assert listed["invites"][0]["state"] == "used_up" and listed["invites"][0]["uses"] == 2
    other = await api.call("POST", "/api/invites", "/api/invites", 201, json={"role": "student"})
    revoked = await api.call(
        "DELETE", f"/api/invites/{other['id']}", "/api/invites/{invite_id}", 200
    )
    assert revoked["state"] == "revoked"
    gone = await api.call(
        "POST", f"/api/invites/{other['id']}/redeem", template, 410, json={"name": "X"}, headers={}
    )
    assert gone["error"]["code"] == "invite_revoked"


async def test_tokens_minted_by_api_key(urok: Urok) -> None:
    api = Checked(urok, await _doc(urok))
    room, _ = await urok.lesson()
    body = {"user_id": "s-42", "name": "Иван Иванов", "role": "student", "room": room,
            "publish": ["mic"], "chat": False}  # fmt: skip
    minted = await api.call("POST", "/api/tokens", "/api/tokens", 201, json=body)
    ident = auth.verify(SECRET, minted["token"], room)
    assert ident.grants.publish == frozenset({"mic"}) and ident.grants.chat is False
    assert minted["join_url"].endswith(f"/r/{room}?token={minted['token']}")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/api/rooms", "{bad", 400, "bad_json"),
        ("POST", "/api/rooms", {"title": ""}, 400, "invalid_body"),
        (
            "POST",
            "/api/rooms",
            {"title": "x", "settings": {"max_participants": 301}},
            400,
            "invalid_body",
        ),
        ("POST", "/api/rooms", {"title": "x", "colour": "red"}, 400, "invalid_body"),
        ("POST", "/api/rooms", {"title": "x", "id": "../../etc"}, 400, "invalid_body"),
        ("PATCH", "/api/rooms/nope", {"title": "x"}, 404, "room_not_found"),
        ("GET", "/api/rooms/nope", None, 404, "room_not_found"),
        (
            "PATCH",
            "/api/rooms/{room}",
            {"settings": {"waiting_room": "maybe"}},
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/tokens",
            {"user_id": "a", "name": "b", "role": "guest"},
            400,
            "invalid_body",
        ),
        ("POST", "/api/invites", {"role": "student", "max_uses": 0}, 400, "invalid_body"),
        ("DELETE", "/api/invites/nope", None, 404, "unknown_invite"),
        ("POST", "/api/invites/nope/redeem", {"name": "x"}, 404, "unknown_invite"),
    ],
)
async def test_bad_requests(
    urok: Urok, method: str, path: str, body: Any, status: int, code: str
) -> None:
    room = await urok.create_room()
    before = await urok.client.get(f"/api/rooms/{room}", headers=urok.api)
    kw: dict[str, Any] = {"headers": urok.api}
    if isinstance(body, str):
        kw["data"] = body
    elif body is not None:
        kw["json"] = body
    resp = await urok.client.request(method, path.replace("{room}", room), **kw)
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code
    after = await urok.client.get(f"/api/rooms/{room}", headers=urok.api)
    assert await before.json() == await after.json()


async def test_rest_rights(urok: Urok) -> None:
    room = await urok.create_room()
    assert (await urok.client.get("/api/rooms")).status == 401
    bad = {"Authorization": "Bearer wrong-key"}
    assert (await urok.client.get("/api/rooms", headers=bad)).status == 401
    student = {"Authorization": f"Bearer {urok.token('S', 'student')}"}
    assert (await urok.client.get("/api/rooms", headers=student)).status == 403
    teacher = {"Authorization": f"Bearer {urok.token('T', 'teacher', user_id='t-1')}"}
    mine = await urok.client.post("/api/rooms", json={"title": "Мой урок"}, headers=teacher)
    assert mine.status == 201
    listed = await (await urok.client.get("/api/rooms", headers=teacher)).json()
    assert [r["title"] for r in listed["rooms"]] == ["Мой урок"]  # not the other room
    assert (await urok.client.get(f"/api/rooms/{room}", headers=teacher)).status == 404
    assert (await urok.client.post(f"/api/rooms/{room}/end", headers=teacher)).status == 404
    broadcast = await urok.client.post(
        "/api/rooms", json={"title": "Б", "kind": "broadcast"}, headers=teacher
    )
    assert broadcast.status == 403
    token = await urok.client.post(
        "/api/tokens", json={"user_id": "a", "name": "b", "role": "admin"}, headers=teacher
    )
    assert token.status == 403
    admin = {"Authorization": f"Bearer {urok.token('A', 'admin', user_id='a-1')}"}
    everything = await (await urok.client.get("/api/rooms", headers=admin)).json()
    assert {r["title"] for r in everything["rooms"]} == {"Урок математики", "Мой урок"}
    other_admin = {
        "Authorization": f"Bearer {urok.token('A2', 'admin', user_id='a-2', org='school2')}"
    }
    assert (await (await urok.client.get("/api/rooms", headers=other_admin)).json())["rooms"] == []


async def test_health_and_metrics(urok: Urok) -> None:
    room, host = await urok.lesson()
    await urok.admitted(room, "Ученик")
    await host.send_raw("{oops")
    await host.next(m.Error)
    health = await (await urok.client.get("/healthz")).json()
    assert health == {"status": "ok", "rooms": 1, "participants": 2}
    text = await (await urok.client.get("/metrics")).text()
    assert "urok_participants 2.0" in text
    assert 'urok_errors_total{code="bad_json"} 1.0' in text
    assert 'urok_messages_in_total{type="join"}' in text
    await host.alive()
    assert Peer.rid() > 0
