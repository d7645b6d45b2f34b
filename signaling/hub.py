"""The signaling service of one process: live rooms, the store, the media backend, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import msgspec
from aiohttp import WSCloseCode

from sfu.api import IceServer, MediaBackend, MediaError, MediaEvent, Notify, Source
from signaling import messages as m
from signaling.config import Settings
from signaling.metrics import Metrics
from signaling.recording import NoRecorder, Recorder
from signaling.records import Repo, RoomRecord, new_id, now
from signaling.room import Participant, Room
from signaling.session import Session
from signaling.webhooks import WebhookConfig, Webhooks

logger = logging.getLogger(__name__)


class Refused(Exception):
    """A request refused with a stable ``code`` and a human ``message``; nothing changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Replied:
    """A handler's result meaning: the reply was already sent."""


REPLIED = Replied()
Reply = m.ServerMessage | Replied | None  # None: answer with ok


@dataclass
class Ctx:
    """What a handler sees: the service, this connection, and (after join) room and self."""

    hub: Hub
    session: Session
    room: Room | None = None
    me: Participant | None = None


class Hub:
    """Live rooms of this process, activated from the store on first use."""

    def __init__(
        self,
        settings: Settings,
        secret: str,
        repo: Repo,
        media: MediaBackend,
        recorder: Recorder | None = None,
    ) -> None:
        self.settings = settings
        self.secret = secret
        self.repo = repo
        self.media = media
        self.recorder: Recorder = recorder or NoRecorder()
        self.metrics = Metrics()
        self.rooms: dict[str, Room] = {}
        self._activating: dict[str, asyncio.Lock] = {}
        self.sessions: set[Session] = set()
        self.node_id = new_id(6)
        fallback = (
            WebhookConfig(url=settings.webhook_url, secret=settings.webhook_secret)
            if settings.webhook_url
            else None
        )
        self.webhooks = Webhooks(repo.store, fallback, retry_base_s=settings.webhook_retry_s)
        self._listener: asyncio.Task[None] | None = None
        self._register_gauges()

    def _register_gauges(self) -> None:
        live = self.rooms.values
        self.metrics.gauge("urok_rooms", "Live rooms", lambda: len(self.rooms))
        self.metrics.gauge(
            "urok_participants",
            "Admitted participants",
            lambda: sum(len(r.participants) for r in live()),
        )
        self.metrics.gauge(
            "urok_waiting",
            "Participants in waiting rooms",
            lambda: sum(len(r.waiting) for r in live()),
        )
        self.metrics.gauge(
            "urok_hands", "Raised hands", lambda: sum(len(r.hands()) for r in live())
        )

    async def room(self, room_id: str) -> Room | None:
        """The live room, activated from its stored record; None if unknown."""
        live = self.rooms.get(room_id)
        if live is not None:
            return live
        lock = self._activating.setdefault(room_id, asyncio.Lock())
        async with lock:
            live = self.rooms.get(room_id)
            if live is not None:
                return live
            record = await self.repo.room(room_id)
            if record is None:
                return None
            room = Room(record, self.repo, self.settings.chat_history)
            await room.load()
            if not record.ended:
                self.rooms[room_id] = room
                for p in await room.load_people(self.settings.chat_rate_per_10s):
                    self.restored(room, p)
            return room

    async def update_record(self, record: RoomRecord) -> None:
        """Save a changed record; the live room (on any node) tells its participants."""
        room = self.rooms.get(record.id)
        if room is None:
            await self.repo.save_room(record)
        else:
            async with room.lock:
                await room.save_record(record)
                room.broadcast(m.RoomChanged(room=room.info()))
        await self._announce(record.id, "changed")

    async def end_by_id(self, room_id: str, reason: str) -> None:
        """End a room wherever it lives: here at once, elsewhere through the event channel."""
        room = self.rooms.get(room_id)
        if room is not None:
            async with room.lock:
                await self.end_room(room, reason)
        else:
            record = await self.repo.room(room_id)
            if record is not None and not record.ended:
                await self.repo.save_room(_ended(record))
        await self._announce(room_id, "ended")

    # ------------------------------------------------------------ events between nodes
    async def _announce(self, room_id: str, op: str) -> None:
        event = RoomEvent(node=self.node_id, room=room_id, op=op)
        await self.repo.store.publish(EVENTS, msgspec.json.encode(event))

    def start(self) -> None:
        """Listen to room events from other nodes (REST calls that reached another node)."""
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        async with self.repo.store.subscribe(EVENTS) as sub:
            async for data in sub:
                try:
                    event = msgspec.json.decode(data, type=RoomEvent)
                    await self._apply(event)
                except Exception:  # a bad event must not stop the listener
                    logger.exception("room event failed")

    async def _apply(self, event: RoomEvent) -> None:
        room = self.rooms.get(event.room)
        if event.node == self.node_id or room is None:
            return
        async with room.lock:
            if event.op == "ended":
                await self.end_room(room, "ended_by_api")
                return
            record = await self.repo.room(event.room)
            if record is not None and record != room.record:
                room.record = record
                room.broadcast(m.RoomChanged(room=room.info()))

    async def end_room(self, room: Room, reason: str) -> None:
        """End for everyone: tell, disconnect, close media, keep the record as ended."""
        if room.closed:
            return
        room.closed = True
        await room.save_record(_ended(room.record))
        if room.recording:
            room.recording = False
            await self.recorder.stop(room.id)
        room.send_many(
            m.RoomEnded(reason=reason), (*room.participants.values(), *room.waiting.values())
        )
        for p in (*room.participants.values(), *room.waiting.values()):
            self._cancel_grace(p)
            if p.session is not None:
                p.session.close(WSCloseCode.GOING_AWAY, "room_ended")
        for p in room.participants.values():
            self.emit_participant(room, p, "participant_left", reason="room_ended")
        room.participants.clear()
        room.waiting.clear()
        self.emit_room(room.record, "ended", reason=reason)
        await self.repo.store.delete(f"bc:{room.id}:live")
        await room.clear_live_state()
        with contextlib.suppress(MediaError):
            await self.media.close_room(room.id)
        self.rooms.pop(room.id, None)

    def emit_room(self, record: RoomRecord, what: str, **data: object) -> None:
        """room_started / room_ended, or broadcast_* for a broadcast's stage."""
        event = f"{'broadcast' if record.kind == 'broadcast' else 'room'}_{what}"
        self.webhooks.emit(event, record.org, record.id, title=record.title, **data)

    def emit_participant(self, room: Room, p: Participant, event: str, **data: object) -> None:
        ident = p.identity
        self.webhooks.emit(
            event,
            room.record.org,
            room.id,
            participant=p.id,
            user_id=None if ident.guest else ident.user_id,
            name=ident.name,
            role=ident.role,
            **data,
        )

    # ------------------------------------------------------------ media glue
    def notifier(self, p: Participant) -> Notify:
        def notify(event: MediaEvent) -> None:
            p.send(_media_message(event))

        return notify

    async def media_join(self, room: Room, p: Participant) -> None:
        publish = p.identity.grants.publish
        await self.media.join(room.id, p.id, publish, self.notifier(p))
        for source in publish:
            self.media.set_source_allowed(room.id, p.id, source, p.media[source])
        if p.rank == "host":
            self.media.set_host(room.id, p.id, True)

    def set_forwarding(self, room: Room, p: Participant, source: Source) -> None:
        self.media.set_source_allowed(room.id, p.id, source, p.media[source])

    def ice_servers(self, p: Participant) -> tuple[m.IceServerInfo, ...]:
        return tuple(_ice(s) for s in self.media.ice_servers(p.id))

    def restored(self, room: Room, p: Participant) -> None:
        """A participant from a previous process: their place is kept for the grace period."""
        from signaling.handlers.membership import start_grace

        start_grace(self, room, p)

    @staticmethod
    def _cancel_grace(p: Participant) -> None:
        if p.grace is not None:
            p.grace.cancel()
            p.grace = None

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait({self._listener}, timeout=3.0)  # never hold shutdown forever
        for session in list(self.sessions):
            session.close(WSCloseCode.GOING_AWAY, "server_shutdown")
        await asyncio.gather(*(s.wait_closed(1.0) for s in list(self.sessions)))
        for room in self.rooms.values():
            for p in (*room.participants.values(), *room.waiting.values()):
                self._cancel_grace(p)
        self.rooms.clear()
        await self.recorder.close()
        await self.media.close()
        await self.webhooks.close()


EVENTS = "room-events"


class RoomEvent(msgspec.Struct, frozen=True):
    """Published when a room changes or ends through a node that may not hold it."""

    node: str
    room: str
    op: str  # "changed" | "ended"


def _ended(record: RoomRecord) -> RoomRecord:
    return msgspec.structs.replace(record, ended_at=now())


def _ice(server: IceServer) -> m.IceServerInfo:
    return m.IceServerInfo(urls=server.urls, username=server.username, credential=server.credential)


def _media_message(event: MediaEvent) -> m.ServerMessage:
    from sfu.api import IceCandidate, PublishLayers, SdpOffer, Speaking, TracksChanged

    if isinstance(event, SdpOffer):
        return m.MediaOfferOut(sdp=event.sdp)
    if isinstance(event, IceCandidate):
        return m.MediaCandidateOut(candidate=event.candidate, sdp_mid=event.sdp_mid)
    if isinstance(event, TracksChanged):
        return m.Tracks(
            tracks=tuple(
                m.TrackView(
                    participant_id=t.participant_id,
                    source=t.source,
                    mid=t.mid,
                    stream_id=t.stream_id,
                )
                for t in event.tracks
            )
        )
    if isinstance(event, PublishLayers):
        return m.PublishLayersOut(source=event.source, active=event.active)
    assert isinstance(event, Speaking)
    return m.SpeakingOut(dominant=event.dominant, speaking=event.speaking)
