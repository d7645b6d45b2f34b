"""A room: its participants and the tracks they publish. Every published track is offered to
every other participant (issue 4 narrows this with last-N and loudest-K).
"""

from __future__ import annotations

import logging

from sfu.api import MediaSink
from sfu.forwarder import Track
from sfu.participant import Participant
from sfu.srtp import PacketBuffer

logger = logging.getLogger(__name__)


class Room:
    """Owns its Participants (and through them every Track and DownTrack)."""

    def __init__(self, room_id: str, fingerprint: str, tx: PacketBuffer) -> None:
        self.id = room_id
        self.fingerprint = fingerprint
        self.tx = tx
        self.participants: dict[str, Participant] = {}
        self.tracks: list[Track] = []
        self.sinks: list[MediaSink] = []
        self.closed = False

    def add(self, participant: Participant) -> None:
        """A new participant receives every track already published."""
        self.participants[participant.id] = participant
        for track in self.tracks:
            participant.subscribe(track)

    def attach(self, sink: MediaSink) -> None:
        """An in-process subscriber: every track, now and later."""
        if sink not in self.sinks:
            self.sinks.append(sink)
            for track in self.tracks:
                self._sink_track(sink, track)

    def detach(self, sink: MediaSink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)
            for track in self.tracks:
                if sink in track.sinks:
                    track.sinks.remove(sink)

    def _sink_track(self, sink: MediaSink, track: Track) -> None:
        track.sinks.append(sink)
        sink.track_added(track.info)
        track.request_keyframe()

    def published(self, track: Track) -> None:
        self.tracks.append(track)
        track.on_close = self._track_closed
        for sink in self.sinks:
            self._sink_track(sink, track)
        for participant in self.participants.values():
            if participant.id != track.owner and not participant.closed:
                participant.subscribe(track)

    def _track_closed(self, track: Track) -> None:
        if track in self.tracks:
            self.tracks.remove(track)
        for sink in list(track.sinks):
            sink.track_removed(track.info)
        track.sinks.clear()
        for participant in self.participants.values():
            if not participant.closed:
                participant.unsubscribe(track)

    async def remove(self, participant_id: str) -> None:
        participant = self.participants.pop(participant_id, None)
        if participant is not None:
            await participant.close()

    async def close(self) -> None:
        """Close every participant; idempotent."""
        self.closed = True
        for pid in list(self.participants):
            await self.remove(pid)
