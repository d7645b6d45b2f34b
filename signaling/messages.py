"""The WebSocket protocol: one frozen msgspec Struct per message, two tagged unions.

Every client message carries a request id ``id``; the server answers each request with either
a specific reply (``welcome``, ``media_answer``, ...) or ``ok`` / ``error`` carrying the same id.
Server events without a request have no id. Unknown fields are ignored; fields are never reused.
docs/protocol.md describes each message in prose.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

PROTOCOL_VERSION = 1

ReqId = int | Annotated[str, Meta(max_length=64)]
Id = Annotated[str, Meta(min_length=1, max_length=64)]
Source = Literal["mic", "camera", "screen"]
Rank = Literal["host", "cohost", "member"]
Role = Literal["admin", "teacher", "student", "parent", "guest"]
Text = Annotated[str, Meta(max_length=20000)]


class ClientMsg(Struct, frozen=True, tag_field="type", forbid_unknown_fields=False):
    """Base of client → server messages."""

    id: ReqId


class ServerMsg(Struct, frozen=True, tag_field="type", omit_defaults=False):
    """Base of server → client messages."""


# ---------------------------------------------------------------- client → server
class Join(ClientMsg, frozen=True, tag="join"):
    room: Id
    version: int
    token: Annotated[str, Meta(max_length=8192)] | None = None
    name: Annotated[str, Meta(max_length=200)] | None = None
    resume: Annotated[str, Meta(max_length=128)] | None = None


class Leave(ClientMsg, frozen=True, tag="leave"):
    pass


class Ping(ClientMsg, frozen=True, tag="ping"):
    pass


class Admit(ClientMsg, frozen=True, tag="admit"):
    participant: Id


class Deny(ClientMsg, frozen=True, tag="deny"):
    participant: Id


class AdmitAll(ClientMsg, frozen=True, tag="admit_all"):
    pass


class RaiseHand(ClientMsg, frozen=True, tag="raise_hand"):
    pass


class LowerHand(ClientMsg, frozen=True, tag="lower_hand"):
    participant: Id | None = None  # None: one's own hand


class LowerAllHands(ClientMsg, frozen=True, tag="lower_all_hands"):
    pass


class SetMedia(ClientMsg, frozen=True, tag="set_media"):
    """The participant turns one of their own sources on or off."""

    source: Source
    enabled: bool


class Mute(ClientMsg, frozen=True, tag="mute"):
    participant: Id
    source: Source


class MuteAll(ClientMsg, frozen=True, tag="mute_all"):
    source: Source = "mic"


class RequestUnmute(ClientMsg, frozen=True, tag="request_unmute"):
    participant: Id
    source: Source


class SetRoom(ClientMsg, frozen=True, tag="set_room"):
    """Host switches; a field left out is unchanged."""

    locked: bool | None = None
    participants_may_unmute: bool | None = None
    chat: bool | None = None
    waiting_room: bool | None = None


class Remove(ClientMsg, frozen=True, tag="remove"):
    participant: Id
    reason: Annotated[str, Meta(max_length=500)] = ""


class Ban(ClientMsg, frozen=True, tag="ban"):
    participant: Id
    reason: Annotated[str, Meta(max_length=500)] = ""


class Promote(ClientMsg, frozen=True, tag="promote"):
    participant: Id


class Demote(ClientMsg, frozen=True, tag="demote"):
    participant: Id


class TransferHost(ClientMsg, frozen=True, tag="transfer_host"):
    participant: Id


class EndRoom(ClientMsg, frozen=True, tag="end_room"):
    pass


class StartRecording(ClientMsg, frozen=True, tag="start_recording"):
    pass


class StopRecording(ClientMsg, frozen=True, tag="stop_recording"):
    pass


class SetLayout(ClientMsg, frozen=True, tag="set_layout"):
    """What the composite (broadcast, recording) shows: the speaker (screen share with the
    speaker as picture-in-picture when someone shares), or a grid of up to four speakers."""

    layout: Literal["speaker", "grid"]


class ChatSend(ClientMsg, frozen=True, tag="chat_send"):
    text: Text


class ChatDelete(ClientMsg, frozen=True, tag="chat_delete"):
    message: Id


class ChatPin(ClientMsg, frozen=True, tag="chat_pin"):
    message: Id | None  # None unpins


# A browser's re-offer repeats every receive slot (25 video + 4 audio) with all its codecs:
# ~70 KB from Chromium; the SFU's parser takes up to 256 KiB.
MAX_SDP_CHARS = 240_000


class MediaOffer(ClientMsg, frozen=True, tag="media_offer"):
    sdp: Annotated[str, Meta(max_length=MAX_SDP_CHARS)]
    # which source each mid of the offer carries; without it the SFU reads a=msid, then order
    sources: (
        Annotated[dict[Annotated[str, Meta(max_length=64)], Source], Meta(max_length=16)] | None
    ) = None


class MediaAnswer(ClientMsg, frozen=True, tag="media_answer"):
    sdp: Annotated[str, Meta(max_length=MAX_SDP_CHARS)]


class MediaCandidate(ClientMsg, frozen=True, tag="media_candidate"):
    candidate: Annotated[str, Meta(max_length=1000)] | None
    sdp_mid: Annotated[str, Meta(max_length=64)] | None = None


class Tile(Struct, frozen=True):
    """One tile the client shows, at its size in CSS pixels (0 × 0: on the page but hidden)."""

    participant: Id
    source: Source
    width: Annotated[int, Meta(ge=0, le=7680)]
    height: Annotated[int, Meta(ge=0, le=4320)]


class View(ClientMsg, frozen=True, tag="view"):
    """What the client shows now; the SFU picks videos (last-N) and layers from it."""

    tiles: Annotated[tuple[Tile, ...], Meta(max_length=100)]


ClientMessage = (
    Join
    | Leave
    | Ping
    | Admit
    | Deny
    | AdmitAll
    | RaiseHand
    | LowerHand
    | LowerAllHands
    | SetMedia
    | Mute
    | MuteAll
    | RequestUnmute
    | SetRoom
    | Remove
    | Ban
    | Promote
    | Demote
    | TransferHost
    | EndRoom
    | StartRecording
    | StopRecording
    | SetLayout
    | ChatSend
    | ChatDelete
    | ChatPin
    | MediaOffer
    | MediaAnswer
    | MediaCandidate
    | View
)


# ---------------------------------------------------------------- shared views
class MediaState(Struct, frozen=True):
    """Which of a participant's sources are on, and which a host has forced off."""

    mic: bool = False
    camera: bool = False
    screen: bool = False
    blocked: tuple[Source, ...] = ()  # muted by a host and, under A/V moderation, locked


class ParticipantInfo(Struct, frozen=True):
    id: str
    name: str
    role: Role
    rank: Rank
    verified: bool
    guest: bool
    media: MediaState
    hand: float | None  # when the hand was raised (unix seconds), None when down
    connected: bool


class WaitingInfo(Struct, frozen=True):
    id: str
    name: str
    role: Role
    guest: bool
    since: float


class HandInfo(Struct, frozen=True):
    participant: str
    raised_at: float


class ChatMessage(Struct, frozen=True):
    id: str
    sender: str  # participant id
    sender_name: str
    text: str
    at: float


class RoomInfo(Struct, frozen=True):
    id: str
    title: str
    locked: bool
    waiting_room: bool
    guests_allowed: bool
    chat: bool
    participants_may_unmute: bool
    recording: bool
    max_participants: int
    layout: Literal["speaker", "grid"] = "speaker"


class IceServerInfo(Struct, frozen=True):
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


class TrackView(Struct, frozen=True):
    participant_id: str
    source: Source
    mid: str
    stream_id: str


# ---------------------------------------------------------------- server → client
class Welcome(ServerMsg, frozen=True, tag="welcome"):
    """Reply to join once admitted: everything the client needs, once."""

    id: ReqId | None
    version: int
    you: ParticipantInfo
    resume: str
    room: RoomInfo
    participants: tuple[ParticipantInfo, ...]
    hands: tuple[HandInfo, ...]
    waiting: tuple[WaitingInfo, ...]  # empty unless you moderate
    chat: tuple[ChatMessage, ...]
    pinned: ChatMessage | None
    ice_servers: tuple[IceServerInfo, ...]


class Waiting(ServerMsg, frozen=True, tag="waiting"):
    """Reply to join when the waiting room holds the participant."""

    id: ReqId | None
    version: int
    you: WaitingInfo
    resume: str
    room_title: str
    position: int


class Denied(ServerMsg, frozen=True, tag="denied"):
    reason: str


class Ok(ServerMsg, frozen=True, tag="ok"):
    id: ReqId | None


class Error(ServerMsg, frozen=True, tag="error"):
    id: ReqId | None
    code: str
    message: str


class Pong(ServerMsg, frozen=True, tag="pong"):
    id: ReqId | None
    at: float


class ParticipantJoined(ServerMsg, frozen=True, tag="participant_joined"):
    participant: ParticipantInfo


class ParticipantLeft(ServerMsg, frozen=True, tag="participant_left"):
    participant: str
    reason: str


class ParticipantChanged(ServerMsg, frozen=True, tag="participant_changed"):
    participant: ParticipantInfo


class WaitingJoined(ServerMsg, frozen=True, tag="waiting_joined"):
    entry: WaitingInfo


class WaitingLeft(ServerMsg, frozen=True, tag="waiting_left"):
    participant: str
    outcome: Literal["admitted", "denied", "left"]


class HandQueue(ServerMsg, frozen=True, tag="hand_position"):
    """Told to a participant whose place in the hand queue changed (None: hand down)."""

    position: int | None


class HandRaised(ServerMsg, frozen=True, tag="hand_raised"):
    participant: str
    raised_at: float


class HandLowered(ServerMsg, frozen=True, tag="hand_lowered"):
    participant: str
    by: str | None  # who lowered it, None when the participant did


class UnmuteRequested(ServerMsg, frozen=True, tag="unmute_requested"):
    source: Source
    by: str


class RoomChanged(ServerMsg, frozen=True, tag="room_changed"):
    room: RoomInfo


class Removed(ServerMsg, frozen=True, tag="removed"):
    reason: str
    banned: bool


class RoomEnded(ServerMsg, frozen=True, tag="room_ended"):
    reason: str


class RecordingProblem(ServerMsg, frozen=True, tag="recording_problem"):
    """Told to hosts: the recording could not start or stopped (disk full, unwritable, ...)."""

    code: str
    message: str


class ChatPosted(ServerMsg, frozen=True, tag="chat_message"):
    message: ChatMessage


class ChatDeleted(ServerMsg, frozen=True, tag="chat_deleted"):
    message: str


class ChatPinned(ServerMsg, frozen=True, tag="chat_pinned"):
    message: ChatMessage | None


class MediaAnswerOut(ServerMsg, frozen=True, tag="media_answer"):
    id: ReqId | None
    sdp: str


class MediaOfferOut(ServerMsg, frozen=True, tag="media_offer"):
    sdp: str


class MediaCandidateOut(ServerMsg, frozen=True, tag="media_candidate"):
    candidate: str | None
    sdp_mid: str | None


class Tracks(ServerMsg, frozen=True, tag="tracks"):
    tracks: tuple[TrackView, ...]


class SpeakingOut(ServerMsg, frozen=True, tag="speaking"):
    dominant: str | None
    speaking: tuple[str, ...]


class PublishLayersOut(ServerMsg, frozen=True, tag="publish_layers"):
    source: Source
    active: tuple[str, ...]


ServerMessage = (
    Welcome
    | Waiting
    | Denied
    | Ok
    | Error
    | Pong
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantChanged
    | WaitingJoined
    | WaitingLeft
    | HandQueue
    | HandRaised
    | HandLowered
    | UnmuteRequested
    | RoomChanged
    | Removed
    | RoomEnded
    | RecordingProblem
    | ChatPosted
    | ChatDeleted
    | ChatPinned
    | MediaAnswerOut
    | MediaOfferOut
    | MediaCandidateOut
    | Tracks
    | SpeakingOut
    | PublishLayersOut
)

_decoder = msgspec.json.Decoder(ClientMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)
_encoder = msgspec.json.Encoder()


class ProtocolError(Exception):
    """A frame that is not a valid client message; ``code`` is stable, ``req_id`` if readable."""

    def __init__(self, code: str, message: str, req_id: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.req_id = req_id


def request_id(data: bytes) -> int | str | None:
    """Best effort: the id of a frame that failed validation, so the error can name it."""
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    if isinstance(raw, dict):
        rid = raw.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool):
            return rid
        if isinstance(rid, str) and len(rid) <= 64:
            return rid
    return None


def decode(data: bytes | str) -> ClientMessage:
    """Parse one client frame or raise ProtocolError (bad_json, unknown_type, invalid_message)."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        msg: ClientMessage = _decoder.decode(raw)
        return msg
    except msgspec.ValidationError as exc:
        text = str(exc)
        rid = request_id(raw)
        if ("Invalid value" in text and "`$.type`" in text) or "required field `type`" in text:
            raise ProtocolError("unknown_type", f"unknown or missing type: {text}", rid) from None
        raise ProtocolError("invalid_message", text, rid) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError("bad_json", f"not valid JSON: {exc}") from None


def encode(msg: ServerMessage) -> bytes:
    return _encoder.encode(msg)


def decode_server(data: bytes | str) -> ServerMessage:
    """One server message (not a batch frame: see :func:`decode_frame`)."""
    raw = data.encode() if isinstance(data, str) else data
    msg: ServerMessage = _server_decoder.decode(raw)
    return msg


class _Batch(msgspec.Struct, frozen=True):
    messages: list[msgspec.Raw]


_batch_decoder = msgspec.json.Decoder(_Batch)


def decode_frame(data: bytes | str) -> list[ServerMessage]:
    """The messages of one server frame, in order: one, or those of a ``batch`` frame
    (``{"type": "batch", "messages": [...]}``). Used by tests, bench and the load tester."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.startswith(b'{"type":"batch"'):
        return [decode_server(bytes(item)) for item in _batch_decoder.decode(raw).messages]
    return [decode_server(raw)]


def frame_dicts(obj: object) -> list[dict[str, object]]:
    """The same for a frame already parsed as JSON (dicts): a batch expands to its messages."""
    if isinstance(obj, dict) and obj.get("type") == "batch":
        inner = obj.get("messages")
        return [x for x in inner if isinstance(x, dict)] if isinstance(inner, list) else []
    return [obj] if isinstance(obj, dict) else []


def encode_client(msg: ClientMessage) -> bytes:
    return _encoder.encode(msg)
