"""The boundary between signaling/ and the media layer.

signaling/ calls into an object that satisfies :class:`MediaBackend`; the SFU never imports
signaling/ or aiohttp. Events that the SFU must push to a client (a server-side offer, the
tracks now available, who is speaking) go through the ``notify`` callback handed over at
``join``; signaling turns them into wire messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Source = Literal["mic", "camera", "screen"]
SOURCES: tuple[Source, ...] = ("mic", "camera", "screen")


class MediaError(Exception):
    """A media request the SFU refuses; ``code`` is a stable protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IceServer:
    """One ICE server as handed to a browser (RTCIceServer)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class SdpOffer:
    """The SFU asks the client to apply this offer and answer it."""

    sdp: str


@dataclass(frozen=True)
class IceCandidate:
    """A trickled server candidate (None candidate means end of candidates)."""

    candidate: str | None
    sdp_mid: str | None = None


@dataclass(frozen=True)
class TrackInfo:
    """A remote track the client receives: which participant and source a stream belongs to."""

    participant_id: str
    source: Source
    mid: str
    stream_id: str


@dataclass(frozen=True)
class TracksChanged:
    """The full set of tracks this client currently receives (small: bounded by last-N)."""

    tracks: tuple[TrackInfo, ...]


@dataclass(frozen=True)
class Speaking:
    """Dominant speaker and the speaking set, batched by the SFU."""

    dominant: str | None
    speaking: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class TileView:
    """One tile a client shows: whose source, at what size in CSS pixels (0 × 0: hidden)."""

    participant_id: str
    source: Source
    width: int
    height: int


@dataclass(frozen=True)
class PublishLayers:
    """Dynacast: the simulcast layers (rids) of one of the client's sources that someone
    receives; the client stops encoding the others (RTCRtpSender.setParameters)."""

    source: Source
    active: tuple[str, ...]


MediaEvent = SdpOffer | IceCandidate | TracksChanged | Speaking | PublishLayers
Notify = Callable[[MediaEvent], None]


@dataclass(frozen=True)
class SinkTrack:
    """A published track as an in-process sink sees it."""

    participant_id: str
    source: Source
    kind: str  # "audio" or "video"
    codec: str  # "opus", "vp8" or "h264"
    clock_rate: int
    payload_type: int  # the publisher's, as in the packets


class MediaSink(Protocol):
    """An in-process subscriber (compositor, recorder) of every track in a room.

    Called on the SFU's event loop; each call must return quickly (queue the work). Packets are
    decrypted RTP as the publisher sent them (its SSRC, sequence numbers, payload type); a
    source muted by the host is not delivered.
    """

    def track_added(self, track: SinkTrack) -> None: ...

    def track_removed(self, track: SinkTrack) -> None: ...

    def packet(self, track: SinkTrack, packet: bytes) -> None: ...


class MediaBackend(Protocol):
    """What signaling needs from the SFU. Every method is keyed by room and participant id."""

    async def join(
        self, room_id: str, participant_id: str, publish: frozenset[Source], notify: Notify
    ) -> None:
        """An admitted participant may now negotiate media with these publish rights."""

    async def offer(
        self,
        room_id: str,
        participant_id: str,
        sdp: str,
        sources: Mapping[str, Source] | None = None,
    ) -> str:
        """Apply the client's offer; return the SFU's answer. Raises MediaError.

        ``sources`` maps the offer's mids to what they carry ("mic", "camera", "screen"). When
        absent (or for a mid not in it), an a=msid naming a source is used, else audio is the
        mic, the first video the camera and the second the screen.
        """

    async def answer(self, room_id: str, participant_id: str, sdp: str) -> None:
        """Apply the client's answer to an offer the SFU sent. Raises MediaError."""

    async def candidate(
        self, room_id: str, participant_id: str, candidate: str | None, sdp_mid: str | None
    ) -> None:
        """A trickled client candidate."""

    def set_source_allowed(
        self, room_id: str, participant_id: str, source: Source, allowed: bool
    ) -> None:
        """Server-side mute: a source not allowed is never forwarded, whatever the client sends."""

    def set_view(self, room_id: str, participant_id: str, tiles: tuple[TileView, ...]) -> None:
        """What this client shows now (its page of tiles and their sizes): last-N and layers."""

    def set_host(self, room_id: str, participant_id: str, host: bool) -> None:
        """The host's mic is always forwarded; the other voices only when among the K loudest."""

    async def watch(self, room_id: str, viewer_id: str, sdp: str) -> str:
        """A viewer that only receives (WHEP): its offer's recvonly sections are its fixed
        receive slots (the SFU never offers to it); screen share and speakers rank first.
        Returns the answer; raises MediaError. ``leave`` ends it."""

    def connected(self, room_id: str, participant_id: str) -> bool:
        """Whether the participant's path is up: False once its ICE consent lapsed, or when
        it never connected within the consent timeout."""

    def ice_servers(self, participant_id: str) -> tuple[IceServer, ...]:
        """STUN/TURN servers (with time-limited TURN credentials) for this participant."""

    async def leave(self, room_id: str, participant_id: str) -> None:
        """Close the participant's transport; idempotent."""

    async def close_room(self, room_id: str) -> None:
        """Close every transport of the room; idempotent."""

    async def close(self) -> None:
        """Close everything; idempotent."""


class NoMedia:
    """A backend that carries no media: signaling works, media requests get a clear error."""

    async def join(
        self, room_id: str, participant_id: str, publish: frozenset[Source], notify: Notify
    ) -> None:
        return None

    async def offer(
        self,
        room_id: str,
        participant_id: str,
        sdp: str,
        sources: Mapping[str, Source] | None = None,
    ) -> str:
        raise MediaError("media_unavailable", "this server runs without media")

    async def answer(self, room_id: str, participant_id: str, sdp: str) -> None:
        raise MediaError("media_unavailable", "this server runs without media")

    async def candidate(
        self, room_id: str, participant_id: str, candidate: str | None, sdp_mid: str | None
    ) -> None:
        raise MediaError("media_unavailable", "this server runs without media")

    def set_source_allowed(
        self, room_id: str, participant_id: str, source: Source, allowed: bool
    ) -> None:
        return None

    def set_view(self, room_id: str, participant_id: str, tiles: tuple[TileView, ...]) -> None:
        return None

    def set_host(self, room_id: str, participant_id: str, host: bool) -> None:
        return None

    async def watch(self, room_id: str, viewer_id: str, sdp: str) -> str:
        raise MediaError("media_unavailable", "this server runs without media")

    def connected(self, room_id: str, participant_id: str) -> bool:
        return False

    def ice_servers(self, participant_id: str) -> tuple[IceServer, ...]:
        return ()

    async def leave(self, room_id: str, participant_id: str) -> None:
        return None

    async def close_room(self, room_id: str) -> None:
        return None

    async def close(self) -> None:
        return None
