"""The SFU: implements :class:`sfu.api.MediaBackend` for signaling.

Owns the ICE-lite mux (one UDP port), the DTLS certificate, the rooms, and a once-a-second
task for receiver reports and REMB. Run it on uvloop: the default asyncio loop costs several
times more per received packet.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Mapping

from sfu import aiortc_hook
from sfu import sdp as sdp_format
from sfu.api import (
    IceServer,
    MediaBackend,
    MediaError,
    MediaEvent,
    MediaSink,
    Notify,
    Source,
    TileView,
)
from sfu.egress import EgressLink
from sfu.ice import IceLiteMux
from sfu.participant import Participant
from sfu.room import LAST_N, Room
from sfu.srtp import PacketBuffer
from sfu.transport import Transport

logger = logging.getLogger(__name__)

PERIODIC_S = 1.0


def turn_credentials(secret: str, participant_id: str, ttl_s: int, now: float) -> tuple[str, str]:
    """coturn's REST scheme: username "expiry:participant", password base64(HMAC-SHA1)."""
    username = f"{int(now) + ttl_s}:{participant_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


class SFU:
    """Selective forwarding unit: rooms of participants over one ICE-lite UDP port."""

    def __init__(
        self,
        ice_addresses: tuple[str, ...] = (),
        port_min: int = 0,
        port_max: int = 0,
        turn_urls: tuple[str, ...] = (),
        turn_secret: str = "",
        turn_ttl_s: int = 3600,
        last_n: int = LAST_N,
        egress: bool = False,
        egress_share: float = 0.55,
    ) -> None:
        aiortc_hook.check_version()
        # a second process sends the copies of ``egress_share`` of the subscribers (sfu/egress.py)
        self.egress_wanted = egress
        self.egress_share = egress_share
        self.egress: EgressLink | None = None
        self.counters: Counter[str] = Counter()
        self.mux = IceLiteMux(tuple(ice_addresses), port_min, port_max)
        self.mux.counters = self.counters
        self._cert = aiortc_hook.new_certificate()
        self.fingerprint = aiortc_hook.sha256_fingerprint(self._cert)
        self._turn = (tuple(turn_urls), turn_secret, turn_ttl_s)
        self.rooms: dict[str, Room] = {}
        self.last_n = last_n
        self._tx = PacketBuffer()
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        """Bind the UDP socket(s) and start the RTCP timer; idempotent."""
        if self.closed:
            raise MediaError("closed", "the SFU is closed")
        self.mux.start()
        if self.egress_wanted and self.egress is None:
            self.egress = EgressLink(self.mux.sockets, self.egress_share)
        if self._task is None:
            self._task = asyncio.ensure_future(self._periodic())

    @property
    def port(self) -> int:
        return self.mux.port

    # ---- MediaBackend -----------------------------------------------------------------------

    def attach_sink(self, room_id: str, sink: MediaSink) -> None:
        """An in-process subscriber of every track of the room (the room is created if new)."""
        self._room(room_id).attach(sink)

    def detach_sink(self, room_id: str, sink: MediaSink) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            room.detach(sink)

    def request_keyframe(self, room_id: str, participant_id: str, source: Source) -> bool:
        """Ask a publisher for a key frame (at most one PLI per half second per stream)."""
        room = self.rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        for track in participant.tracks.values() if participant else []:
            if track.source == source:
                return track.request_keyframe()
        return False

    def _room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(room_id, self.fingerprint, self._tx, self.last_n)
            room.egress = self.egress
        return room

    async def join(
        self, room_id: str, participant_id: str, publish: frozenset[Source], notify: Notify
    ) -> None:
        self.start()
        room = self._room(room_id)
        await room.remove(participant_id)  # a rejoin replaces the old connection
        transport = self._transport(f"{room_id}/{participant_id}")
        room.add(Participant(room, participant_id, publish, notify, transport))

    async def offer(
        self,
        room_id: str,
        participant_id: str,
        sdp: str,
        sources: Mapping[str, Source] | None = None,
    ) -> str:
        participant = self._participant(room_id, participant_id)
        return participant.on_offer(_parse(sdp), sources or {})

    async def watch(self, room_id: str, viewer_id: str, sdp: str) -> str:
        """A receive-only viewer (WHEP): slots from its offer, never an offer to it."""
        desc = _parse(sdp)
        self.start()
        room = self._room(room_id)
        await room.remove(viewer_id)
        transport = self._transport(f"{room_id}/{viewer_id}")
        viewer = Participant(room, viewer_id, frozenset(), _ignore, transport, viewer=True)
        try:
            answer = viewer.on_offer(desc, {})
        except MediaError:
            await viewer.close()
            raise
        room.add(viewer)
        return answer

    def connected(self, room_id: str, participant_id: str) -> bool:
        room = self.rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        return participant is not None and participant.connected(time.monotonic())

    async def answer(self, room_id: str, participant_id: str, sdp: str) -> None:
        participant = self._participant(room_id, participant_id)
        participant.on_answer(_parse(sdp))

    async def candidate(
        self, room_id: str, participant_id: str, candidate: str | None, sdp_mid: str | None
    ) -> None:
        # ICE-lite: the client's checks reveal its addresses; trickled candidates are not needed.
        self._participant(room_id, participant_id)

    def set_source_allowed(
        self, room_id: str, participant_id: str, source: Source, allowed: bool
    ) -> None:
        room = self.rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        if participant is not None:
            participant.set_allowed(source, allowed)

    def set_view(self, room_id: str, participant_id: str, tiles: tuple[TileView, ...]) -> None:
        room = self.rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        if room is not None and participant is not None:
            participant.view = tiles
            room.select_for(participant)

    def set_host(self, room_id: str, participant_id: str, host: bool) -> None:
        """The host's mic is forwarded whatever its level (loudest-K applies to the others)."""
        self._room(room_id).set_host(participant_id, host)

    def ice_servers(self, participant_id: str) -> tuple[IceServer, ...]:
        urls, secret, ttl = self._turn
        if not urls:
            return ()
        if not secret:
            return (IceServer(urls=urls),)
        username, credential = turn_credentials(secret, participant_id, ttl, time.time())
        return (IceServer(urls=urls, username=username, credential=credential),)

    async def leave(self, room_id: str, participant_id: str) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            await room.remove(participant_id)
            if not room.participants and not room.sinks:
                self.rooms.pop(room_id, None)

    async def close_room(self, room_id: str) -> None:
        room = self.rooms.pop(room_id, None)
        if room is not None:
            await room.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for room_id in list(self.rooms):
            await self.close_room(room_id)
        if self.egress is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.egress.close)
        self.mux.close()

    # ---- internals --------------------------------------------------------------------------

    def _transport(self, name: str) -> Transport:
        """A new transport; every other one sends through the egress process when there is one."""
        egress = self.egress if self.egress is not None and self.egress.take() else None
        return Transport(name, self.mux, self._cert, self.counters, egress)

    def _participant(self, room_id: str, participant_id: str) -> Participant:
        room = self.rooms.get(room_id)
        participant = room.participants.get(participant_id) if room else None
        if participant is None:
            raise MediaError("not_joined", "join the room's media first")
        return participant

    async def _periodic(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(PERIODIC_S)
            now = time.monotonic()
            dt, last = now - last, now
            if self.egress is not None and not self.egress.check():
                self._egress_gone()
            for room in list(self.rooms.values()):
                room.evaluate_speakers(now)
                room.periodic(now, dt)
                for participant in list(room.participants.values()):
                    participant.transport.periodic(now)

    def _egress_gone(self) -> None:
        """The egress process died: this process sends every copy from now on."""
        if self.egress is not None:
            self.egress.close()  # reaps the child, closes our end of the pair
        self.egress = None
        for room in self.rooms.values():
            room.egress = None
            for track in room.tracks:
                track.invalidate()

    def srtp_profiles(self) -> set[str]:
        """The SRTP protection profiles negotiated by the connected transports."""
        return {
            p.transport.srtp.profile
            for room in self.rooms.values()
            for p in room.participants.values()
            if p.transport.srtp is not None
        }

    def stats(self) -> dict[str, int]:
        """Counters: dropped and rejected packets by reason, NACKs, key frame requests."""
        found = dict(self.counters)
        if self.egress is not None:
            found["egress_dropped"] = self.egress.dropped  # the child could not keep up
        return found


def _ignore(event: MediaEvent) -> None:
    """A WHEP viewer has no signaling channel: events for it go nowhere."""


def _parse(text: str) -> sdp_format.SessionDescription:
    try:
        return sdp_format.parse(text)
    except sdp_format.SdpError as exc:
        raise MediaError("bad_sdp", str(exc)) from exc


def _check_protocol(sfu: SFU) -> MediaBackend:
    return sfu  # mypy verifies that SFU satisfies the MediaBackend protocol
