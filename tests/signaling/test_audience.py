"""A broadcast's audience: viewer count by heartbeats, registration switch, Q&A moderation."""

from __future__ import annotations

from typing import Any

from signaling import auth
from tests.signaling.conftest import Urok


async def _broadcast(urok: Urok, **settings: Any) -> str:
    body = {
        "title": "Линейка 1 сентября",
        "kind": "broadcast",
        "org": "school1",
        "settings": settings,
    }
    resp = await urok.client.post("/api/rooms", json=body, headers=urok.api)
    assert resp.status == 201
    return str((await resp.json())["id"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_viewer_count_is_distinct_heartbeats(urok: Urok) -> None:
    bid = await _broadcast(urok)
    for viewer in ("viewer-aaaa1", "viewer-bbbb2", "viewer-aaaa1", "viewer-cccc3"):
        resp = await urok.client.post(f"/api/broadcasts/{bid}/viewers", json={"viewer": viewer})
        assert resp.status == 200
    state = await (await urok.client.get(f"/api/broadcasts/{bid}")).json()
    assert state["viewers"] == 3 and state["status"] == "waiting"
    assert state["playlist"] == f"/hls/{bid}/master.m3u8"
    # the count expires: a heartbeat a minute old is not a viewer
    await urok.store.zadd(f"bc:{bid}:viewers", "viewer-old00", 1.0)
    assert (await (await urok.client.get(f"/api/broadcasts/{bid}")).json())["viewers"] == 3
    bad = await urok.client.post(f"/api/broadcasts/{bid}/viewers", json={"viewer": "../x"})
    assert bad.status == 400
    call = await urok.create_room()
    assert (await urok.client.get(f"/api/broadcasts/{call}")).status == 404


async def test_registration_required_for_viewing(urok: Urok) -> None:
    bid = await _broadcast(urok, viewers_require_registration=True)
    anon = await urok.client.post(f"/api/broadcasts/{bid}/viewers", json={"viewer": "viewer-anon1"})
    assert anon.status == 401 and (await anon.json())["error"]["code"] == "registration_required"
    parent = _bearer(urok.token("Родитель", "parent"))
    ok = await urok.client.post(
        f"/api/broadcasts/{bid}/viewers", json={"viewer": "viewer-par01"}, headers=parent
    )
    assert ok.status == 200
    stranger = _bearer(urok.token("Чужой", "parent", org="school2"))
    no = await urok.client.post(
        f"/api/broadcasts/{bid}/viewers", json={"viewer": "viewer-x0001"}, headers=stranger
    )
    assert no.status == 403


async def test_questions_from_registered_viewers_moderated_by_hosts(urok: Urok) -> None:
    bid = await _broadcast(urok)
    path = f"/api/broadcasts/{bid}/questions"
    guest = await urok.client.post(path, json={"text": "можно?"})
    assert guest.status == 401 and (await guest.json())["error"]["code"] == "chat_registered_only"
    parent = _bearer(urok.token("Ольга", "parent"))
    asked = await (
        await urok.client.post(
            path, json={"text": "<script>x</script>Когда каникулы?"}, headers=parent
        )
    ).json()
    rude = await (
        await urok.client.post(path, json={"text": "спам", "kind": "comment"}, headers=parent)
    ).json()
    assert asked["text"] == "<script>x</script>Когда каникулы?" and asked["name"] == "Ольга"
    student = _bearer(urok.token("Ученик", "student"))
    refused = await urok.client.patch(
        f"{path}/{rude['id']}", json={"hidden": True}, headers=student
    )
    assert refused.status == 403
    host = _bearer(urok.token("Завуч", "teacher", room=bid))
    hidden = await urok.client.patch(f"{path}/{rude['id']}", json={"hidden": True}, headers=host)
    assert hidden.status == 200 and (await hidden.json())["hidden"] is True
    await urok.client.patch(
        f"{path}/{asked['id']}", json={"answered": True, "pinned": True}, headers=urok.api
    )
    public = await urok.client.get(path)
    assert public.headers["Cache-Control"] == "public, max-age=2"
    items = (await public.json())["questions"]
    assert [(q["id"], q["answered"], q["pinned"]) for q in items] == [(asked["id"], True, True)]
    everything = await (await urok.client.get(path, headers=host)).json()
    assert len(everything["questions"]) == 2
    unknown = await urok.client.patch(f"{path}/nope", json={"hidden": True}, headers=host)
    assert unknown.status == 404


async def test_question_rate_limit_and_bad_bodies(urok: Urok) -> None:
    bid = await _broadcast(urok)
    path = f"/api/broadcasts/{bid}/questions"
    parent = _bearer(urok.token("Пётр", "parent"))
    codes = [
        (await urok.client.post(path, json={"text": f"{i}"}, headers=parent)).status
        for i in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]
    assert (await urok.client.post(path, json={"text": ""}, headers=parent)).status == 400
    assert (await urok.client.post(path, data="{", headers=parent)).status == 400
    forged = _bearer("eyJ.forged.token")
    assert (await urok.client.post(path, json={"text": "x"}, headers=forged)).status == 401


async def test_written_answers_and_the_moderator_flag(urok: Urok) -> None:
    bid = await _broadcast(urok)
    path = f"/api/broadcasts/{bid}/questions"
    parent = _bearer(urok.token("Ольга", "parent"))
    asked = await (
        await urok.client.post(path, json={"text": "Когда каникулы?"}, headers=parent)
    ).json()
    assert asked["answer"] is None and asked["answered"] is False
    host = _bearer(urok.token("Завуч", "teacher", room=bid))
    resp = await urok.client.patch(
        f"{path}/{asked['id']}", json={"answer": "  С <b>25 мая</b>.  "}, headers=host
    )
    assert resp.status == 200
    answered = await resp.json()
    assert (answered["answer"], answered["answered"]) == ("С <b>25 мая</b>.", True)
    public = await (await urok.client.get(path, headers=parent)).json()
    assert public["moderator"] is False
    assert [(q["answer"], q["answered"]) for q in public["questions"]] == [
        ("С <b>25 мая</b>.", True)
    ]
    mine = await urok.client.get(path, headers=host)
    assert mine.headers["Cache-Control"] == "private, no-store"
    assert (await mine.json())["moderator"] is True
    too_long = await urok.client.patch(
        f"{path}/{asked['id']}", json={"answer": "я" * 2001}, headers=host
    )
    assert too_long.status == 400
    unknown = await urok.client.patch(f"{path}/{asked['id']}", json={"text": "x"}, headers=host)
    assert unknown.status == 400
    removed = await urok.client.patch(f"{path}/{asked['id']}", json={"answer": ""}, headers=host)
    assert ((await removed.json())["answer"], (await removed.json())["answered"]) == (None, False)


async def test_refused_patches_change_nothing(urok: Urok) -> None:
    bid = await _broadcast(urok)
    path = f"/api/broadcasts/{bid}/questions"
    parent = _bearer(urok.token("Ольга", "parent"))
    asked = await (await urok.client.post(path, json={"text": "Вопрос"}, headers=parent)).json()
    before = await (await urok.client.get(path, headers=urok.api)).json()
    no_moderate = auth.Grants(moderate=False)
    refused = {
        "guest": {},
        "forged": _bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged"),
        "other secret": _bearer(
            auth.mint("another-secret-0123456789abcdef0123", user_id="t", name="T", role="teacher")
        ),
        "student": _bearer(urok.token("Ученик", "student", room=bid)),
        "parent": parent,
        "other school": _bearer(urok.token("Чужой", "teacher", org="school2")),
        "other room": _bearer(urok.token("Учитель", "teacher", room="another-room")),
        "no grant": _bearer(urok.token("Учитель", "teacher", room=bid, grants=no_moderate)),
        "wrong api key": _bearer("not-the-api-key"),
    }
    patch = {"hidden": True, "pinned": True, "answer": "взлом"}
    for who, headers in refused.items():
        resp = await urok.client.patch(f"{path}/{asked['id']}", json=patch, headers=headers)
        assert resp.status == 403, who
        assert (await resp.json())["error"]["code"] == "not_allowed", who
        listed = await (await urok.client.get(path, headers=headers)).json()
        assert listed["moderator"] is False, who
    assert await (await urok.client.get(path, headers=urok.api)).json() == before
    public = await (await urok.client.get(path)).json()
    assert [(q["hidden"], q["pinned"], q["answer"]) for q in public["questions"]] == [
        (False, False, None)
    ]
