"""Persisted records (rooms, invites) and the repository that keeps them in the StateStore.

Everything a second node, a restart or the REST API needs to read lives here; live connections
stay in the process that holds them (signaling/room.py).
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from signaling.state import StateStore

Kind = Literal["call", "broadcast"]
Purpose = Literal["lesson", "parent_meeting", "staff_meeting", "event"]
Title = Annotated[str, Meta(min_length=1, max_length=200)]
JoinRole = Literal["admin", "teacher", "student", "parent"]


class RoomSettings(Struct, frozen=True, forbid_unknown_fields=True):
    """What a host or the REST API may change about a room."""

    waiting_room: bool = True
    guests_allowed: bool = False
    max_participants: Annotated[int, Meta(ge=1, le=300)] = 300
    chat: bool = True
    participants_may_unmute: bool = True
    record_on_start: bool = False
    mute_on_entry: bool = False
    locked: bool = False
    auto_admit_roles: tuple[JoinRole, ...] = ()  # members of the room's org with these roles
    viewers_require_registration: bool = False  # broadcasts: only registered viewers watch
    opens_before_s: Annotated[int, Meta(ge=0, le=86400)] = 900  # link works this long before start


class RoomRecord(Struct, frozen=True):
    """A room as stored: identity, owner, settings and lifecycle."""

    id: str
    title: str
    kind: Kind
    org: str | None
    group: str | None
    owner: str | None  # user id of the teacher/admin who created it
    created_at: float
    scheduled_start: float | None
    settings: RoomSettings
    ended_at: float | None = None
    host_user: str | None = None  # who holds the host role now (user id)
    purpose: Purpose = "lesson"
    duration_s: int = 2700

    def opens_at(self) -> float | None:
        """When non-moderators may first join a scheduled room."""
        if self.scheduled_start is None:
            return None
        return self.scheduled_start - self.settings.opens_before_s

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


class InviteRecord(Struct, frozen=True):
    """An invite link: mints join tokens on use, within expiry and a number of uses."""

    id: str
    org: str | None
    room: str | None
    role: JoinRole
    group: str | None
    max_uses: int
    expires_at: float
    created_at: float
    created_by: str
    revoked: bool = False


def new_id(nbytes: int = 9) -> str:
    return secrets.token_urlsafe(nbytes).replace("-", "x").replace("_", "y")


class Repo:
    """Typed access to records in a StateStore (keys documented in docs/architecture.md)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def save_room(self, room: RoomRecord) -> None:
        await self.store.set(f"room:{room.id}", msgspec.json.encode(room))
        await self.store.sadd("rooms", room.id)

    async def room(self, room_id: str) -> RoomRecord | None:
        raw = await self.store.get(f"room:{room_id}")
        return None if raw is None else msgspec.json.decode(raw, type=RoomRecord)

    async def rooms(self) -> list[RoomRecord]:
        found = [await self.room(rid) for rid in sorted(await self.store.smembers("rooms"))]
        return sorted((r for r in found if r is not None), key=lambda r: r.created_at)

    async def save_invite(self, invite: InviteRecord) -> None:
        await self.store.set(f"invite:{invite.id}", msgspec.json.encode(invite))
        await self.store.sadd("invites", invite.id)

    async def invite(self, invite_id: str) -> InviteRecord | None:
        raw = await self.store.get(f"invite:{invite_id}")
        return None if raw is None else msgspec.json.decode(raw, type=InviteRecord)

    async def invites(self) -> list[InviteRecord]:
        found = [await self.invite(i) for i in sorted(await self.store.smembers("invites"))]
        return sorted((i for i in found if i is not None), key=lambda i: i.created_at)

    async def use_invite(self, invite_id: str) -> int:
        """Count one use atomically; returns the use number (1 for the first)."""
        return await self.store.incr(f"invite:{invite_id}:uses")

    async def invite_uses(self, invite_id: str) -> int:
        raw = await self.store.get(f"invite:{invite_id}:uses")
        return int(raw or b"0")


def now() -> float:
    return time.time()
