"""Offer/answer for one participant's single BUNDLE'd connection.

The client publishes into m-sections it creates (its offers); the SFU forwards other people's
tracks into m-sections it adds with its own offers (mids ``s0``, ``s1``...). Each
:class:`Section` remembers what was negotiated, so every later offer or answer repeats it in
order. Only the codecs and header extensions the SFU can forward are accepted.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from sfu.api import SOURCES, Source
from sfu.sdp import Codec, Media, SessionDescription

logger = logging.getLogger(__name__)

MID_EXT = "urn:ietf:params:rtp-hdrext:sdes:mid"
RID_EXT = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
RRID_EXT = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
AUDIO_LEVEL_EXT = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_EXT = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
VIDEO_ORIENTATION_EXT = "urn:3gpp:video-orientation"
RECEIVED_EXTS = (
    MID_EXT,
    RID_EXT,
    RRID_EXT,
    AUDIO_LEVEL_EXT,
    ABS_SEND_TIME_EXT,
    VIDEO_ORIENTATION_EXT,
)
FORWARDED_EXTS = (AUDIO_LEVEL_EXT, ABS_SEND_TIME_EXT, VIDEO_ORIENTATION_EXT)
STRIPPED_EXTS = (MID_EXT, RID_EXT, RRID_EXT)
FEEDBACK: dict[str, tuple[str, ...]] = {
    "audio": (),
    "video": ("nack", "nack pli", "ccm fir", "goog-remb"),
}
AUDIO_KEYS = ("opus/48000/2/",)
VIDEO_KEYS = (
    "vp8/90000/0/",
    "h264/90000/0/pm1-42e0",
    "h264/90000/0/pm1-4200",
    "h264/90000/0/pm1-42c0",
    "h264/90000/0/pm1-640c",
    "h264/90000/0/pm1-4d00",
)


def supported(codec: Codec, kind: str) -> bool:
    return codec.key in (AUDIO_KEYS if kind == "audio" else VIDEO_KEYS)


@dataclass
class Section:
    """One m-section as negotiated (server's point of view)."""

    mid: str
    kind: str
    by_server: bool
    recv: bool = False  # the client publishes here
    send_ssrc: int = 0  # the SFU forwards here (0: nothing assigned)
    send_msid: tuple[str, str] = ("-", "-")
    codec: Codec | None = None
    source: Source | None = None
    ssrcs: list[int] = field(default_factory=list)
    extmap: dict[str, int] = field(default_factory=dict)
    rejected: bool = False
    proto: str = "UDP/TLS/RTP/SAVPF"
    formats: list[str] = field(default_factory=list)
    rtcp_rsize: bool = False
    client_recv: bool = True  # the client's last description lets it receive here
    rtx_pt: int = 0  # retransmissions in RTX (RFC 4588) for what the SFU sends here
    rtx_ssrc: int = 0
    rids: list[str] = field(default_factory=list)  # simulcast layers received, low to high
    slot: bool = False  # a receive-only viewer's own section used as a receive slot (WHEP)

    @property
    def sending(self) -> bool:
        return self.send_ssrc != 0 and self.client_recv

    def direction(self) -> str:
        if self.recv and self.sending:
            return "sendrecv"
        return "recvonly" if self.recv else "sendonly" if self.sending else "inactive"


@dataclass
class Local:
    """What the SFU puts in every m-section: ICE credentials, fingerprint, candidates."""

    ufrag: str
    pwd: str
    fingerprint: str
    candidates: list[str]


def infer_sources(desc: SessionDescription, explicit: dict[str, Source]) -> dict[str, Source]:
    """Which source each client-sent m-section carries: explicit map, msid naming a source,
    else audio → mic, first video → camera, second → screen."""
    found: dict[str, Source] = {}
    videos: list[Source] = ["camera", "screen"]
    for media in desc.media:
        mid = media.mid or ""
        named = explicit.get(mid) or _named_source(media)
        if named is not None:
            found[mid] = named
    for media in desc.media:
        mid = media.mid or ""
        if mid in found or media.direction not in ("sendrecv", "sendonly"):
            continue
        if media.kind == "audio" and "mic" not in found.values():
            found[mid] = "mic"
        elif media.kind == "video":
            free = [s for s in videos if s not in found.values()]
            if free:
                found[mid] = free[0]
    return found


def _named_source(media: Media) -> Source | None:
    msid = media.value("msid") or ""
    for word in msid.split():
        for source in SOURCES:
            if word == source or word.endswith(":" + source):
                return source
    return None


MAX_LAYERS = 3


def simulcast_rids(media: Media) -> list[str]:
    """The rids a client sends as simulcast layers (RFC 8853), in ``a=simulcast`` order, which
    the SFU takes as low to high (the order the web client lists its encodings). Alternatives
    after ``,`` and the paused marker ``~`` are read as the first choice, active; a layer
    without its ``a=rid:<id> send`` line, or a section without the rid header extension,
    is not simulcast."""
    if RID_EXT not in media.extmaps():
        return []
    declared = []
    for value in media.values("rid"):
        parts = value.split()
        if len(parts) >= 2 and parts[1] == "send" and _rid_ok(parts[0]):
            declared.append(parts[0])
    order: list[str] = []
    for value in media.values("simulcast"):
        words = value.split()
        for direction, streams in zip(words[::2], words[1::2], strict=False):
            if direction != "send":
                continue
            for alternatives in streams.split(";"):
                rid = alternatives.split(",")[0].lstrip("~")
                if rid in declared and rid not in order:
                    order.append(rid)
    rids = order or []
    return rids[:MAX_LAYERS] if len(rids) > 1 else []


def _rid_ok(rid: str) -> bool:
    return 0 < len(rid) <= 16 and all(c.isalnum() or c in "-_" for c in rid)


def choose_codec(media: Media) -> Codec | None:
    for codec in media.codecs():
        if supported(codec, media.kind):
            return codec
    return None


def accepted_extmap(media: Media) -> dict[str, int]:
    return {uri: i for uri, i in media.extmaps().items() if uri in RECEIVED_EXTS and i <= 14}


def session_lines(session_id: int, version: int, mids: list[str]) -> list[str]:
    return [
        "v=0",
        f"o=- {session_id} {version} IN IP4 0.0.0.0",
        "s=urok",
        "t=0 0",
        "a=ice-lite",
        "a=group:BUNDLE " + " ".join(mids),
        "a=msid-semantic: WMS *",
    ]


def media_lines(sec: Section, local: Local, setup: str) -> list[str]:
    """The m-section as the SFU states it (in an offer or an answer)."""
    if sec.rejected or sec.codec is None:
        formats = " ".join(sec.formats or ["0"])
        return [f"m={sec.kind} 0 {sec.proto} {formats}", "c=IN IP4 0.0.0.0", f"a=mid:{sec.mid}"]
    codec = sec.codec
    rtx = sec.rtx_pt if sec.sending and sec.rtx_ssrc else 0
    formats = f"{codec.pt} {rtx}" if rtx else str(codec.pt)
    lines = [
        f"m={sec.kind} 9 {sec.proto} {formats}",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        f"a=ice-ufrag:{local.ufrag}",
        f"a=ice-pwd:{local.pwd}",
        f"a=fingerprint:sha-256 {local.fingerprint}",
        f"a=setup:{setup}",
        f"a=mid:{sec.mid}",
    ]
    lines += [f"a=extmap:{i} {uri}" for uri, i in sorted(sec.extmap.items(), key=lambda x: x[1])]
    lines += [f"a={sec.direction()}"]
    if sec.recv and sec.rids:
        lines += [f"a=rid:{rid} recv" for rid in sec.rids]
        lines += ["a=simulcast:recv " + ";".join(sec.rids)]
    if sec.sending:
        lines += [f"a=msid:{sec.send_msid[0]} {sec.send_msid[1]}"]
    lines += ["a=rtcp-mux"] + (["a=rtcp-rsize"] if sec.rtcp_rsize else [])
    channels = f"/{codec.channels}" if codec.channels else ""
    lines += [f"a=rtpmap:{codec.pt} {codec.name}/{codec.clock_rate}{channels}"]
    lines += [f"a=rtcp-fb:{codec.pt} {fb}" for fb in codec.feedback]
    if codec.fmtp:
        lines += [f"a=fmtp:{codec.pt} {codec.fmtp}"]
    if rtx:
        lines += [f"a=rtpmap:{rtx} rtx/{codec.clock_rate}", f"a=fmtp:{rtx} apt={codec.pt}"]
    if sec.sending:
        lines += _ssrc_lines(sec, rtx)
    lines += [f"a=candidate:{c}" for c in local.candidates] + ["a=end-of-candidates"]
    return lines


def _ssrc_lines(sec: Section, rtx: int) -> list[str]:
    stream, track = sec.send_msid
    ssrcs = [sec.send_ssrc, sec.rtx_ssrc] if rtx else [sec.send_ssrc]
    lines = [f"a=ssrc-group:FID {sec.send_ssrc} {sec.rtx_ssrc}"] if rtx else []
    for ssrc in ssrcs:
        lines += [f"a=ssrc:{ssrc} cname:urok", f"a=ssrc:{ssrc} msid:{stream} {track}"]
    return lines


def offered_rtx(media: Media, pt: int) -> int:
    """The client's RTX payload type for ``pt`` in this m-section (0: none)."""
    for codec in media.codecs():
        if codec.name.lower() == "rtx" and codec.fmtp_params().get("apt") == str(pt):
            return codec.pt
    return 0


def negotiated_codec(offered: Codec, kind: str) -> Codec:
    """The codec as the SFU answers it: the client's PT and fmtp, only feedback we act on."""
    wanted = FEEDBACK[kind]
    return Codec(
        offered.pt,
        offered.name,
        offered.clock_rate,
        offered.channels,
        offered.fmtp,
        [fb for fb in offered.feedback if fb in wanted],
    )


def send_codec(template: Codec, kind: str, pt: int) -> Codec:
    """A forwarded track's codec in the subscriber's payload type space."""
    return Codec(
        pt,
        template.name,
        template.clock_rate,
        template.channels,
        template.fmtp,
        list(FEEDBACK[kind]),
    )


def new_session_id() -> int:
    return secrets.randbelow(1 << 62)
