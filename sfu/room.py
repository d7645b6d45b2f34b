"""A room: its participants and the tracks they publish. Each subscriber's fixed receive slots
show what last-N (video) and loudest-K (audio, sfu.speakers) choose for it, each simulcast
video on the layer its tile needs (sfu.layers), and layers nobody receives are paused.
"""

from __future__ import annotations

import logging
import time

from sfu import layers
from sfu import negotiation as neg
from sfu.api import MediaSink, PublishLayers, Speaking, TileView
from sfu.egress import EgressLink
from sfu.forwarder import Track
from sfu.participant import Participant
from sfu.speakers import SpeakerDetector
from sfu.srtp import PacketBuffer

logger = logging.getLogger(__name__)

LAST_N = 25  # videos a subscriber receives at most
PAUSE_AFTER_S = 3.0  # dynacast: a layer nobody received for this long is paused
AUDIO_BPS = 40_000  # what a forwarded voice costs in the bandwidth budget
CONGESTED_SHARE = 0.9  # a REMB below this share of what a subscriber receives: congested
LOSS_CONGESTED = 25  # RR fraction lost (of 256, ~10 %) that counts as congestion
FALL_RECENT_S = 2.0  # a REMB decrease this recent, with the estimate below what it gets
CONGESTION_HOLD_S = 15.0  # after congestion, layers stay within the estimate this long


Ranked = tuple[
    list[tuple[tuple[int, int], Track]], list[tuple[tuple[int, int], Track]], list[Track]
]


def _tiles_forward(
    base: list[tuple[tuple[int, int], Track]], mine: str, view: tuple[TileView, ...]
) -> list[Track]:
    """The room order with this participant's own tracks left out and the tiles it reported
    (in its order) before the other class-4 tracks."""
    tiles = {(t.participant_id, t.source): i for i, t in enumerate(view)}
    head: list[Track] = []
    tiled: list[tuple[int, Track]] = []
    rest: list[Track] = []
    for (cls, _), track in base:
        if track.owner == mine:
            continue
        if cls < 4:
            head.append(track)
            continue
        index = tiles.get((track.owner, track.source))
        if index is None:
            rest.append(track)
        else:
            tiled.append((index, track))
    tiled.sort(key=lambda x: x[0])
    return head + [t for _, t in tiled] + rest


class Room:
    """Owns its Participants (and through them every Track and DownTrack)."""

    def __init__(
        self, room_id: str, fingerprint: str, tx: PacketBuffer, last_n: int = LAST_N
    ) -> None:
        self.id = room_id
        self.fingerprint = fingerprint
        self.tx = tx
        self.participants: dict[str, Participant] = {}
        self.tracks: list[Track] = []
        self.sinks: list[MediaSink] = []
        self.last_n = last_n
        self.egress: EgressLink | None = None  # the SFU's egress process, if it has one
        self.speakers = SpeakerDetector(self._speaking)
        self.speakers.on_change = self.select
        self.closed = False

    def add(self, participant: Participant) -> None:
        """A new participant receives what last-N and loudest-K choose for it."""
        self.participants[participant.id] = participant
        self.select_for(participant)

    def select(self) -> None:
        """Refill every participant's receive slots (after a publish, a close, a new speaker).
        The room-wide order is computed once; each participant only drops its own tracks and
        moves the tiles it reported forward (O(tracks) each, no sort per participant)."""
        ranked = self._ranked()
        for participant in list(self.participants.values()):
            if not participant.closed:
                self.select_for(participant, ranked)

    def select_for(self, participant: Participant, ranked: Ranked | None = None) -> None:
        video, viewer_video, audio = ranked or self._ranked()
        base = viewer_video if participant.viewer else video
        mine = participant.id
        wanted = [t for _, t in base if t.owner != mine]
        if participant.view and not participant.viewer:
            wanted = _tiles_forward(base, mine, participant.view)
        participant.receive("video", wanted, self.last_n)
        voices = [t for t in audio if t.owner != mine]
        participant.receive("audio", voices, self.speakers.k + max(1, len(self.speakers.hosts)))
        self.choose_layers(participant)

    def _ranked(self) -> Ranked:
        """Last-N order for everyone: host, screen share, recent speakers, then publish order
        (class 4, where a participant's own tiles go first); viewers (WHEP): screen share,
        recent speakers, host, the rest. Audio: audible voices, loudest first."""
        recent = {pid: i for i, pid in enumerate(self.speakers.recent)}
        hosts = self.speakers.hosts
        video: list[tuple[tuple[int, int], Track]] = []
        viewer: list[tuple[tuple[int, int], Track]] = []
        for i, track in enumerate(self.tracks):
            if track.codec.kind != "video":
                continue
            if track.owner in hosts:
                key = (0, i)
            elif track.source == "screen":
                key = (1, i)
            elif track.owner in recent:
                key = (2, recent[track.owner])
            else:
                key = (4, i)
            video.append((key, track))
            if track.source == "screen":
                vkey = (0, i)
            elif track.owner in recent:
                vkey = (1, recent[track.owner])
            else:
                vkey = (2 if track.owner in hosts else 3, i)
            viewer.append((vkey, track))
        video.sort(key=lambda x: x[0])
        viewer.sort(key=lambda x: x[0])
        audio = [t for t in self.tracks if t.codec.kind == "audio"]
        audio.sort(key=lambda t: (not t.audible, -t.loudness))
        return video, viewer, audio

    # ---- simulcast --------------------------------------------------------------------------

    def initial_layer(self, participant: Participant, track: Track) -> int:
        """The layer a new copy of ``track`` starts on (before the bandwidth check)."""
        if not track.layers:
            return -1
        tiles = {(t.participant_id, t.source): t for t in participant.view}
        videos = sum(d.track.codec.kind == "video" for d in participant.downs.values()) + 1
        tile = tiles.get((track.owner, track.source))
        return layers.for_tile(tile, len(track.layers), bool(participant.view), videos)

    def choose_layers(self, participant: Participant) -> None:
        """Each simulcast copy: the layer its tile needs, within the subscriber's estimate;
        a switch happens at the target layer's next key frame."""
        downs = [d for d in participant.downs.values() if d.track.layers]
        if not downs:
            return
        tiles = {(t.participant_id, t.source): t for t in participant.view}
        videos = sum(d.track.codec.kind == "video" for d in participant.downs.values())
        wanted = [
            layers.for_tile(
                tiles.get((d.track.owner, d.track.source)),
                len(d.track.layers),
                bool(participant.view),
                videos,
            )
            for d in downs
        ]
        budget = self._budget(participant)
        if budget:
            fixed = sum(
                d.track.bitrate_bps if d.track.codec.kind == "video" else AUDIO_BPS
                for d in participant.downs.values()
                if not d.track.layers
            )
            budget = max(1.0, budget - fixed)
        rates = [[layer.bitrate_bps for layer in d.track.layers] for d in downs]
        for down, layer in zip(downs, layers.fit(wanted, rates, budget), strict=True):
            if layer != down.target_layer:
                down.track.want_layer(down, layer)
                self._dynacast(down.track, resume_only=True)

    def _budget(self, participant: Participant) -> float:
        """The subscriber's bandwidth cap (0: none). Its REMB comes from a receive-side
        estimator that never reports much above what it already receives (no probing here),
        so it cannot say how much more would fit: it caps only when it falls below what the
        subscriber receives now and has just fallen (at the start it only rises: ramp-up, not
        congestion), or RR loss passes LOSS_CONGESTED; then the cap holds for
        CONGESTION_HOLD_S before the layers the tiles need are tried again."""
        transport = participant.transport
        estimate = float(transport.estimate_bps)
        now = time.monotonic()
        if estimate:
            receiving = sum(
                d.stream.bitrate_bps if d.track.codec.kind == "video" else AUDIO_BPS
                for d in participant.downs.values()
            )
            falling = now - transport.estimate_fell_at < FALL_RECENT_S
            below = estimate < CONGESTED_SHARE * receiving
            if (below and falling) or transport.fraction_lost > LOSS_CONGESTED:
                participant.congested_until = now + CONGESTION_HOLD_S
        return estimate if now < participant.congested_until else 0.0

    def _dynacast(self, track: Track, now: float = 0.0, resume_only: bool = False) -> None:
        """Pause the layers nobody receives (after PAUSE_AFTER_S), resume one when wanted;
        the lowest layer always runs, and the best one while a sink records or composes."""
        wanted = {0}
        if track.sinks:
            wanted.add(len(track.layers) - 1)
        for down in track.downtracks:
            wanted.add(down.stream.layer_index if down.stream is not track else 0)
            if down.target_layer >= 0:
                wanted.add(down.target_layer)
        changed = False
        for layer in track.layers:
            if layer.layer_index in wanted:
                layer.unwanted_since = None
                if layer.paused:
                    layer.paused, changed = False, True
            elif not resume_only:
                if layer.unwanted_since is None:
                    layer.unwanted_since = now
                elif not layer.paused and now - layer.unwanted_since >= PAUSE_AFTER_S:
                    layer.paused, changed = True, True
        if changed:
            owner = self.participants.get(track.owner)
            if owner is not None and not owner.closed:
                active = tuple(t.rid for t in track.layers if not t.paused)
                owner.emit(PublishLayers(track.source, active))
            for layer in track.layers:
                if not layer.paused and layer.pending:
                    layer.request_keyframe()

    def periodic(self, now: float, dt: float) -> None:
        """Once a second: bitrates, layer choice against fresh estimates, dynacast."""
        for track in self.tracks:
            for stream in [track, *track.layers]:
                stream.measure(dt)
                if stream.pending:  # copies waiting for a key frame: ask again if one was lost
                    stream.request_keyframe()
        for participant in list(self.participants.values()):
            if not participant.closed:
                self.choose_layers(participant)
        for track in self.tracks:
            if track.layers:
                self._dynacast(track, now)

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
        self.select()

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
        self.select()

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
        self.select()  # empties the slots that showed it and refills them

    async def remove(self, participant_id: str) -> None:
        participant = self.participants.pop(participant_id, None)
        if participant is not None:
            await participant.close()

    async def close(self) -> None:
        """Close every participant; idempotent."""
        self.closed = True
        for pid in list(self.participants):
            await self.remove(pid)
