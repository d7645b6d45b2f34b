"""A broadcast's audience over plain HTTP: viewer count, state, and Q&A from registered viewers.

Thousands of viewers must not become thousands of WebSocket sessions or join events. A viewer
page sends a heartbeat every 20 s (counted in a sorted set keyed by viewer id, so the count is
shared across nodes through Redis), and polls the public Q&A list, which is served from a
1-second in-memory cache with ``Cache-Control: public, max-age=2`` so an nginx edge absorbs it.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta, Struct

from signaling import auth
from signaling.records import RoomRecord, new_id
from signaling.rest import body_of, fail, principal, reply
from signaling.ws import HUB

VIEWER_TTL_S = 60.0
MAX_QUESTIONS = 1000
QUESTIONS_PER_10S = 3
ViewerId = Annotated[str, Meta(pattern="^[A-Za-z0-9_-]{8,64}$")]
AnswerText = Annotated[str, Meta(max_length=2000)]


class Heartbeat(Struct, frozen=True, forbid_unknown_fields=True):
    viewer: ViewerId


class BroadcastState(Struct, frozen=True):
    id: str
    title: str
    status: Literal["waiting", "live", "ended"]
    viewers: int
    require_registration: bool
    playlist: str
    scheduled_start: float | None


class QuestionIn(Struct, frozen=True, forbid_unknown_fields=True):
    text: Annotated[str, Meta(min_length=1, max_length=1000)]
    kind: Literal["question", "comment"] = "question"


class Question(Struct, frozen=True):
    id: str
    kind: Literal["question", "comment"]
    name: str
    text: str
    at: float
    hidden: bool = False
    answered: bool = False
    pinned: bool = False
    answer: str | None = None  # the hosts' written answer, shown under the question


class QuestionPatch(Struct, frozen=True, forbid_unknown_fields=True):
    """A host's change; ``answer`` sets the written answer (and ``answered``), "" removes it."""

    hidden: bool | None = None
    answered: bool | None = None
    pinned: bool | None = None
    answer: AnswerText | None = None


class QuestionList(Struct, frozen=True):
    questions: list[Question]
    moderator: bool = False  # the caller may moderate: the list has hidden ones too


def _key(room_id: str, part: str) -> str:
    return f"bc:{room_id}:{part}"


async def broadcast_record(request: web.Request) -> RoomRecord:
    record = await request.app[HUB].repo.room(request.match_info["room_id"])
    if record is None or record.kind != "broadcast":
        raise fail(404, "broadcast_not_found", "no such broadcast")
    return record


def viewer_identity(request: web.Request, record: RoomRecord) -> auth.Identity | None:
    """The registered viewer behind a bearer token, or None without one."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        ident = auth.verify(request.app[HUB].secret, header[7:].strip(), record.id)
    except auth.AuthError as exc:
        raise fail(401, exc.code, exc.message) from None
    if ident.room in (None, "*") and record.org not in (None, ident.org):
        raise fail(403, "token_wrong_room", "this token is for another school")
    return ident


async def heartbeat(request: web.Request) -> web.Response:
    record = await broadcast_record(request)
    ident = viewer_identity(request, record)
    if record.settings.viewers_require_registration and ident is None:
        raise fail(401, "registration_required", "this broadcast is for registered viewers")
    body = await body_of(request, Heartbeat)
    store = request.app[HUB].repo.store
    now = time.time()
    await store.zadd(_key(record.id, "viewers"), body.viewer, now)
    await store.zrem_below(_key(record.id, "viewers"), now - VIEWER_TTL_S)
    return reply(await _state(request, record))


async def viewer_count(request: web.Request, room_id: str) -> int:
    store = request.app[HUB].repo.store
    await store.zrem_below(_key(room_id, "viewers"), time.time() - VIEWER_TTL_S)
    return await store.zcard(_key(room_id, "viewers"))


async def _state(request: web.Request, record: RoomRecord) -> BroadcastState:
    hub = request.app[HUB]
    live = hub.rooms.get(record.id)
    status: Literal["waiting", "live", "ended"] = "waiting"
    if record.ended:
        status = "ended"
    elif (live is not None and live.participants) or await hub.repo.store.get(
        _key(record.id, "live")
    ):
        status = "live"
    return BroadcastState(
        id=record.id,
        title=record.title,
        status=status,
        viewers=await viewer_count(request, record.id),
        require_registration=record.settings.viewers_require_registration,
        playlist=f"/hls/{record.id}/master.m3u8",
        scheduled_start=record.scheduled_start,
    )


async def state(request: web.Request) -> web.Response:
    record = await broadcast_record(request)
    resp = reply(await _state(request, record))
    resp.headers["Cache-Control"] = "public, max-age=2"
    return resp


async def ask(request: web.Request) -> web.Response:
    record = await broadcast_record(request)
    ident = viewer_identity(request, record)
    if ident is None:
        raise fail(401, "chat_registered_only", "only registered viewers can ask")
    if record.ended:
        raise fail(409, "broadcast_ended", "the broadcast has ended")
    if not ident.grants.chat:
        raise fail(403, "not_allowed", "your link does not allow chat")
    body = await body_of(request, QuestionIn)
    store = request.app[HUB].repo.store
    rate_key = _key(record.id, f"rate:{ident.user_id}")
    if await store.incr(rate_key) == 1:
        await store.set(rate_key, b"1", ttl_s=10.0)
    elif int(await store.get(rate_key) or b"0") > QUESTIONS_PER_10S:
        raise fail(429, "rate_limited", "too many messages; wait a moment")
    if await store.zcard(_key(record.id, "order")) >= MAX_QUESTIONS:
        raise fail(409, "too_many_questions", "this broadcast has reached its question limit")
    text = body.text.strip()
    if not text:
        raise fail(400, "empty_message", "the message is empty")
    question = Question(
        id="q" + new_id(6), kind=body.kind, name=ident.name, text=text, at=time.time()
    )
    await _save(request, record.id, question)
    await store.zadd(_key(record.id, "order"), question.id, question.at)
    return reply(question, 201)


async def _save(request: web.Request, room_id: str, question: Question) -> None:
    store = request.app[HUB].repo.store
    await store.hset(_key(room_id, "questions"), question.id, msgspec.json.encode(question))
    request.app[QA_CACHE].pop(room_id, None)


def _moderates(request: web.Request, record: RoomRecord) -> bool:
    """API key, the school's admin, the owner, or a token with the moderate grant for it."""
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return False
    try:
        if principal(request).sees(record):
            return True
    except web.HTTPException:
        pass
    try:
        ident = viewer_identity(request, record)
    except web.HTTPException:
        return False
    return ident is not None and ident.grants.moderate


async def _all(request: web.Request, room_id: str) -> list[Question]:
    store = request.app[HUB].repo.store
    stored = await store.hgetall(_key(room_id, "questions"))
    found = [msgspec.json.decode(v, type=Question) for v in stored.values()]
    return sorted(found, key=lambda q: (q.at, q.id))


async def questions(request: web.Request) -> web.Response:
    record = await broadcast_record(request)
    if _moderates(request, record):
        resp = reply(QuestionList(questions=await _all(request, record.id), moderator=True))
        resp.headers["Cache-Control"] = "private, no-store"
        return resp
    cache = request.app[QA_CACHE]
    cached = cache.get(record.id)
    if cached is None or cached[0] < time.monotonic():
        public = [q for q in await _all(request, record.id) if not q.hidden]
        cached = (time.monotonic() + 1.0, msgspec.json.encode(QuestionList(questions=public)))
        cache[record.id] = cached
    return web.Response(
        body=cached[1],
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=2"},
    )


async def moderate(request: web.Request) -> web.Response:
    record = await broadcast_record(request)
    if not _moderates(request, record):
        raise fail(403, "not_allowed", "only the broadcast's hosts moderate questions")
    body = await body_of(request, QuestionPatch)
    raw = await request.app[HUB].repo.store.hget(
        _key(record.id, "questions"), request.match_info["question_id"]
    )
    if raw is None:
        raise fail(404, "unknown_message", "no such question")
    current = msgspec.json.decode(raw, type=Question)
    if body.pinned:
        for other in await _all(request, record.id):
            if other.pinned and other.id != current.id:
                await _save(request, record.id, msgspec.structs.replace(other, pinned=False))
    updated = msgspec.structs.replace(current, **_changes(body))
    await _save(request, record.id, updated)
    return reply(updated)


def _changes(body: QuestionPatch) -> dict[str, object]:
    changes: dict[str, object] = {
        k: v for k, v in msgspec.structs.asdict(body).items() if v is not None
    }
    if body.answer is not None:
        text = body.answer.strip()
        changes["answer"] = text or None
        changes.setdefault("answered", bool(text))
    return changes


QA_CACHE = web.AppKey("qa_cache", dict)

ROUTES = [
    ("POST", "/api/broadcasts/{room_id}/viewers", heartbeat),
    ("GET", "/api/broadcasts/{room_id}", state),
    ("POST", "/api/broadcasts/{room_id}/questions", ask),
    ("GET", "/api/broadcasts/{room_id}/questions", questions),
    ("PATCH", "/api/broadcasts/{room_id}/questions/{question_id}", moderate),
]
