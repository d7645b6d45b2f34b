"""A room: its participants and the tracks they publish. Every published track is offered to
every other participant; only the loudest voices are forwarded (sfu.speakers; issue 4 narrows
video with last-N).
"""

from __future__ import annotations

import logging

from sfu import negotiation as neg
from sfu.api import MediaSink, Speaking
from sfu.forwarder import Track
from sfu.participant import Participant
from sfu.speakers import SpeakerDetector
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
        self.speakers = SpeakerDetector(self._speaking)
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
        if track.codec.kind == "audio":
            track.level_id = track.publisher_extmap.get(neg.AUDIO_LEVEL_EXT, 0)
            track.on_level = self._level
        for sink in self.sinks:
            self._sink_track(sink, track)
        for participant in self.participants.values():
            if participant.id != track.owner and not participant.closed:
                participant.subscribe(track)

    def _level(self, now: float) -> None:
        self.speakers.maybe_evaluate(self.tracks, now)

    def evaluate_speakers(self, now: float) -> None:
        """Also run by the SFU's timer, so a voice that stopped sending falls silent."""
        self.speakers.evaluate(self.tracks, now)

    def set_host(self, participant_id: str, host: bool) -> None:
        """A host's mic is always forwarded, loud or not."""
        if host:
            self.speakers.hosts.add(participant_id)
        else:
            self.speakers.hosts.discard(participant_id)
        for track in self.tracks:
            if track.owner == participant_id and track.codec.kind == "audio" and host:
                track.set_audible(True)

    def _speaking(self, event: Speaking) -> None:
        for participant in list(self.participants.values()):
            if not participant.closed:
                participant.emit(event)

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
