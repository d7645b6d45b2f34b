"""A hand-written media backend for signaling tests: records what signaling asked of the SFU."""

from __future__ import annotations

from collections.abc import Mapping

from sfu.api import IceServer, MediaError, Notify, Source, TileView
from signaling.recording import OnProblem, RecorderError, RecordingInfo


class FakeMedia:
    """Satisfies sfu.api.MediaBackend; keeps calls for assertions."""

    def __init__(self) -> None:
        self.joined: dict[tuple[str, str], frozenset[Source]] = {}
        self.allowed: dict[tuple[str, str, Source], bool] = {}
        self.notify: dict[tuple[str, str], Notify] = {}
        self.offers: list[tuple[str, str, str]] = []
        self.closed_rooms: list[str] = []
        self.sources: dict[str, Source] = {}
        self.views: dict[tuple[str, str], tuple[TileView, ...]] = {}
        self.hosts: dict[str, str] = {}  # room -> participant whose mic is always forwarded

    async def join(
        self, room_id: str, participant_id: str, publish: frozenset[Source], notify: Notify
    ) -> None:
        self.joined[(room_id, participant_id)] = publish
        self.notify[(room_id, participant_id)] = notify

    async def offer(
        self,
        room_id: str,
        participant_id: str,
        sdp: str,
        sources: Mapping[str, Source] | None = None,
    ) -> str:
        if (room_id, participant_id) not in self.joined:
            raise MediaError("media_not_joined", "no media session")
        self.offers.append((room_id, participant_id, sdp))
        self.sources = dict(sources or {})
        return "v=0 answer-for-" + participant_id

    async def answer(self, room_id: str, participant_id: str, sdp: str) -> None:
        return None

    async def candidate(
        self, room_id: str, participant_id: str, candidate: str | None, sdp_mid: str | None
    ) -> None:
        return None

    def set_source_allowed(
        self, room_id: str, participant_id: str, source: Source, allowed: bool
    ) -> None:
        self.allowed[(room_id, participant_id, source)] = allowed

    def set_view(self, room_id: str, participant_id: str, tiles: tuple[TileView, ...]) -> None:
        self.views[(room_id, participant_id)] = tiles

    def set_host(self, room_id: str, participant_id: str, host: bool) -> None:
        if host:
            self.hosts[room_id] = participant_id
        elif self.hosts.get(room_id) == participant_id:
            del self.hosts[room_id]

    async def watch(self, room_id: str, viewer_id: str, sdp: str) -> str:
        self.joined[(room_id, viewer_id)] = frozenset()
        self.offers.append((room_id, viewer_id, sdp))
        return "v=0 whep-answer-for-" + viewer_id

    def connected(self, room_id: str, participant_id: str) -> bool:
        return (room_id, participant_id) in self.joined

    def ice_servers(self, participant_id: str) -> tuple[IceServer, ...]:
        return (IceServer(urls=("stun:127.0.0.1:3478",)),)

    async def leave(self, room_id: str, participant_id: str) -> None:
        self.joined.pop((room_id, participant_id), None)

    async def close_room(self, room_id: str) -> None:
        self.closed_rooms.append(room_id)

    async def close(self) -> None:
        return None


class FakeRecorder:
    """Satisfies signaling.recording.Recorder; can be told to fail."""

    def __init__(self) -> None:
        self.active: dict[str, RecordingInfo] = {}
        self.problems: dict[str, OnProblem] = {}
        self.stopped: list[str] = []
        self.fail_with: str | None = None
        self.layouts: dict[str, str] = {}

    async def start(self, info: RecordingInfo, on_problem: OnProblem) -> str:
        if self.fail_with:
            raise RecorderError(self.fail_with, "cannot record")
        room_id = info.room_id
        self.active[room_id] = info
        self.problems[room_id] = on_problem
        return "rec-" + room_id

    async def stop(self, room_id: str) -> None:
        if self.active.pop(room_id, None) is not None:
            self.stopped.append(room_id)

    def set_layout(self, room_id: str, layout: str) -> None:
        self.layouts[room_id] = layout

    async def close(self) -> None:
        self.active.clear()
