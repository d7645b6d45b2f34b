"""A live room in this process: participants, the waiting queue, hands, chat, and fan-out.

Room state is held here and written through to the StateStore (so REST on any node, and a
restart, can read it). Every mutation runs under the room's lock; sending is never awaited.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from sfu.api import SOURCES, Source
from signaling import messages as m
from signaling.auth import Identity
from signaling.records import Repo, RoomRecord
from signaling.session import Session

logger = logging.getLogger(__name__)

State = Literal["waiting", "admitted"]


class TokenBucket:
    """Rate limit: ``rate`` events per ``per`` seconds, bursting to ``rate``."""

    def __init__(self, rate: int, per: float) -> None:
        self.capacity = float(rate)
        self.tokens = float(rate)
        self.fill = rate / per
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.fill)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass(eq=False)
class Participant:
    """One person in a room (waiting or admitted), across reconnections."""

    id: str
    identity: Identity
    state: State
    since: float
    chat_bucket: TokenBucket
    resume: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    rank: m.Rank = "member"
    media: dict[Source, bool] = field(default_factory=lambda: dict.fromkeys(SOURCES, False))
    blocked: set[Source] = field(default_factory=set)  # host-muted, locked under moderation
    allowed: set[Source] = field(default_factory=set)  # asked to unmute: may, despite moderation
    hand: float | None = None
    session: Session | None = None
    grace: asyncio.TimerHandle | None = None
    headless: bool = False  # a WHIP publisher: no WebSocket, present while its media lives
    resume_sha: str = ""  # set on participants restored after a restart (their key is not kept)

    @property
    def moderator(self) -> bool:
        return self.rank in ("host", "cohost")

    @property
    def connected(self) -> bool:
        return self.headless or (self.session is not None and not self.session.closed)

    def info(self) -> m.ParticipantInfo:
        media = m.MediaState(
            mic=self.media["mic"],
            camera=self.media["camera"],
            screen=self.media["screen"],
            blocked=tuple(s for s in SOURCES if s in self.blocked),
        )
        return m.ParticipantInfo(
            id=self.id,
            name=self.identity.name,
            role=self.identity.role,
            rank=self.rank,
            verified=self.identity.verified,
            guest=self.identity.guest,
            media=media,
            hand=self.hand,
            connected=self.connected,
        )

    def waiting_info(self) -> m.WaitingInfo:
        ident = self.identity
        return m.WaitingInfo(
            id=self.id, name=ident.name, role=ident.role, guest=ident.guest, since=self.since
        )

    def send(self, msg: m.ServerMessage) -> None:
        if self.session is not None:
            self.session.send(msg)


class StoredParticipant(msgspec.Struct, frozen=True):
    """What a restarted process needs to give a participant their place back on reconnect."""

    id: str
    identity: Identity
    state: State
    since: float
    resume_sha: str  # sha256 of the resume key: the key itself is a secret
    rank: m.Rank
    media: dict[Source, bool]
    blocked: list[Source]
    allowed: list[Source]
    hand: float | None
    headless: bool


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def stored(p: Participant) -> StoredParticipant:
    return StoredParticipant(
        id=p.id,
        identity=p.identity,
        state=p.state,
        since=p.since,
        resume_sha=p.resume_sha or _sha(p.resume),
        rank=p.rank,
        media=dict(p.media),
        blocked=sorted(p.blocked),
        allowed=sorted(p.allowed),
        hand=p.hand,
        headless=p.headless,
    )


def restored(s: StoredParticipant, chat_rate: int) -> Participant:
    """A participant as it was, not connected; only its resume key's hash is known."""
    p = Participant(
        id=s.id,
        identity=s.identity,
        state=s.state,
        since=s.since,
        chat_bucket=TokenBucket(chat_rate, 10.0),
        resume="",
        rank=s.rank,
        media=dict(s.media),
        blocked=set(s.blocked),
        allowed=set(s.allowed),
        hand=s.hand,
        headless=False,
    )
    p.resume_sha = s.resume_sha
    return p


class Room:
    """The live state of one room and its fan-out."""

    def __init__(self, record: RoomRecord, repo: Repo, history: int) -> None:
        self.record = record
        self.repo = repo
        self.lock = asyncio.Lock()
        self.participants: dict[str, Participant] = {}
        self.waiting: dict[str, Participant] = {}
        self.chat: deque[m.ChatMessage] = deque(maxlen=history)
        self.pinned: m.ChatMessage | None = None
        self.bans: set[str] = set()
        self.cohosts: set[str] = set()  # user ids promoted to co-host (kept across reconnects)
        self.dirty: set[Participant] = set()  # changed since the last flush to the store
        self.recording = False
        self.layout: Literal["speaker", "grid"] = "speaker"
        self.started = False  # room_started was announced (webhooks)
        self.closed = False

    @property
    def id(self) -> str:
        return self.record.id

    def _key(self, part: str) -> str:
        return f"room:{self.id}:{part}"

    async def load(self) -> None:
        """Read what outlives a process: bans, co-hosts, chat history and the pin."""
        store = self.repo.store
        self.bans = await store.smembers(self._key("bans"))
        self.cohosts = await store.smembers(self._key("cohosts"))
        for raw in await store.lrange(self._key("chat")):
            self.chat.append(msgspec.json.decode(raw, type=m.ChatMessage))
        pinned = await store.get(self._key("pinned"))
        self.pinned = None if pinned is None else msgspec.json.decode(pinned, type=m.ChatMessage)

    async def load_people(self, chat_rate: int) -> list[Participant]:
        """Participants a previous process held, restored as disconnected (waiting keep order)."""
        raw = await self.repo.store.hgetall(self._key("people"))
        people = [
            restored(msgspec.json.decode(v, type=StoredParticipant), chat_rate)
            for v in raw.values()
        ]
        people.sort(key=lambda p: (p.since, p.id))
        for p in people:
            (self.participants if p.state == "admitted" else self.waiting)[p.id] = p
        self.started = bool(self.participants)
        return people

    # ------------------------------------------------------------ lookup
    def find(self, pid: str) -> Participant | None:
        return self.participants.get(pid) or self.waiting.get(pid)

    def by_resume(self, key: str) -> Participant | None:
        digest = _sha(key)
        for p in (*self.participants.values(), *self.waiting.values()):
            if p.resume and secrets.compare_digest(p.resume, key):
                return p
            if p.resume_sha and secrets.compare_digest(p.resume_sha, digest):
                p.resume, p.resume_sha = key, ""
                return p
        return None

    def by_user(self, user_id: str) -> Participant | None:
        for p in (*self.participants.values(), *self.waiting.values()):
            if p.identity.user_id == user_id:
                return p
        return None

    def moderators(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.moderator]

    def host(self) -> Participant | None:
        return next((p for p in self.participants.values() if p.rank == "host"), None)

    def hands(self) -> list[Participant]:
        raised = [p for p in self.participants.values() if p.hand is not None]
        return sorted(raised, key=lambda p: (p.hand or 0.0, p.id))

    def info(self) -> m.RoomInfo:
        s = self.record.settings
        return m.RoomInfo(
            id=self.id,
            title=self.record.title,
            locked=s.locked,
            waiting_room=s.waiting_room,
            guests_allowed=s.guests_allowed,
            chat=s.chat,
            participants_may_unmute=s.participants_may_unmute,
            recording=self.recording,
            max_participants=s.max_participants,
            layout=self.layout,
        )

    def occupancy(self) -> int:
        return len(self.participants) + len(self.waiting)

    # ------------------------------------------------------------ fan-out
    def broadcast(self, msg: m.ServerMessage, exclude: Participant | None = None) -> int:
        """Encode once, queue for every connected admitted participant; returns the count."""
        return self.send_many(msg, (p for p in self.participants.values() if p is not exclude))

    def to_moderators(self, msg: m.ServerMessage) -> int:
        return self.send_many(msg, self.moderators())

    def send_many(self, msg: m.ServerMessage, targets: Iterable[Participant]) -> int:
        data = m.encode(msg)
        sent = 0
        for p in targets:
            if p.session is not None and p.session.send_raw(data):
                sent += 1
        return sent

    def changed(self, p: Participant) -> None:
        """Tell everyone one participant's new view (stored at the end of the request)."""
        self.broadcast(m.ParticipantChanged(participant=p.info()))
        self.dirty.add(p)

    async def flush(self) -> None:
        """Write what changed during a request to the store, once per participant."""
        dirty, self.dirty = self.dirty, set()
        for p in dirty:
            if self.find(p.id) is p:
                await self.save_participant(p)

    # ------------------------------------------------------------ write-through
    async def save_participant(self, p: Participant) -> None:
        self.dirty.discard(p)
        store = self.repo.store
        await store.hset(self._key("people"), p.id, msgspec.json.encode(stored(p)))
        if p.state == "admitted":
            await store.hset(self._key("participants"), p.id, msgspec.json.encode(p.info()))

    async def forget_participant(self, p: Participant) -> None:
        self.dirty.discard(p)
        store = self.repo.store
        await store.hdel(self._key("participants"), p.id)
        await store.hdel(self._key("people"), p.id)
        await store.zrem(self._key("waiting"), p.id)
        await store.zrem(self._key("hands"), p.id)

    async def save_waiting(self, p: Participant, present: bool) -> None:
        if present:
            await self.repo.store.zadd(self._key("waiting"), p.id, p.since)
        else:
            await self.repo.store.zrem(self._key("waiting"), p.id)

    async def save_hand(self, p: Participant) -> None:
        if p.hand is None:
            await self.repo.store.zrem(self._key("hands"), p.id)
        else:
            await self.repo.store.zadd(self._key("hands"), p.id, p.hand)

    async def save_chat(self, msg: m.ChatMessage, limit: int) -> None:
        await self.repo.store.rpush_capped(self._key("chat"), msgspec.json.encode(msg), limit)

    async def rewrite_chat(self) -> None:
        store = self.repo.store
        await store.delete(self._key("chat"))
        for msg in self.chat:
            await store.rpush_capped(self._key("chat"), msgspec.json.encode(msg), len(self.chat))

    async def save_pinned(self) -> None:
        if self.pinned is None:
            await self.repo.store.delete(self._key("pinned"))
        else:
            await self.repo.store.set(self._key("pinned"), msgspec.json.encode(self.pinned))

    async def save_record(self, record: RoomRecord) -> None:
        self.record = record
        await self.repo.save_room(record)

    async def ban(self, user_id: str) -> None:
        self.bans.add(user_id)
        await self.repo.store.sadd(self._key("bans"), user_id)

    async def set_cohost(self, user_id: str, on: bool) -> None:
        if on:
            self.cohosts.add(user_id)
            await self.repo.store.sadd(self._key("cohosts"), user_id)
        else:
            self.cohosts.discard(user_id)
            await self.repo.store.srem(self._key("cohosts"), user_id)

    async def clear_live_state(self) -> None:
        await self.repo.store.delete(
            self._key("participants"), self._key("people"), self._key("waiting"), self._key("hands")
        )
