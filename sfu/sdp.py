"""A small SDP model: parse what browsers, aiortc and FFmpeg send (including a=rid,
a=simulcast, extmap ids) and write the SFU's own descriptions line by line.

aiortc's sdp.py drops a=rid / a=simulcast; this parser keeps every attribute in order, so
later features can read what they need. Malformed input raises :class:`SdpError`, nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

MAX_SDP_BYTES = 256 * 1024
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class SdpError(ValueError):
    """The description cannot be used."""


@dataclass
class Codec:
    """One payload type of an m-section."""

    pt: int
    name: str
    clock_rate: int
    channels: int = 0
    fmtp: str = ""
    feedback: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Identity across peers: name, clock rate and the fmtp parameters that matter."""
        return f"{self.name.lower()}/{self.clock_rate}/{self.channels}/{_fmtp_key(self)}"

    def fmtp_params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        for item in self.fmtp.split(";"):
            name, _, value = item.strip().partition("=")
            if name:
                params[name.strip().lower()] = value.strip()
        return params


def _fmtp_key(codec: Codec) -> str:
    if codec.name.lower() != "h264":
        return ""
    params = codec.fmtp_params()
    profile = params.get("profile-level-id", "42e01f")[:4].lower()
    return f"pm{params.get('packetization-mode', '0')}-{profile}"


@dataclass
class Media:
    """One m-section with its attributes in order."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    attributes: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.attributes if key == name]

    def value(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.attributes)

    @property
    def mid(self) -> str | None:
        return self.value("mid")

    @property
    def direction(self) -> str:
        for key, _ in self.attributes:
            if key in DIRECTIONS:
                return key
        return "sendrecv"

    def codecs(self) -> list[Codec]:
        """The payload types in m-line order, with rtpmap, fmtp and rtcp-fb attached."""
        by_pt: dict[int, Codec] = {}
        for value in self.values("rtpmap"):
            codec = _parse_rtpmap(value)
            if codec is not None:
                by_pt[codec.pt] = codec
        for value in self.values("fmtp"):
            pt, _, params = value.partition(" ")
            if pt.isdigit() and int(pt) in by_pt:
                by_pt[int(pt)].fmtp = params.strip()
        for value in self.values("rtcp-fb"):
            pt, _, fb = value.partition(" ")
            targets = by_pt.values() if pt == "*" else [by_pt.get(_int(pt, -1))]
            for codec in targets:
                if codec is not None:
                    codec.feedback.append(fb.strip())
        return [by_pt[int(f)] for f in self.formats if f.isdigit() and int(f) in by_pt]

    def extmaps(self) -> dict[str, int]:
        """Header extension URI → id."""
        found: dict[str, int] = {}
        for value in self.values("extmap"):
            parts = value.split()
            if len(parts) >= 2:
                ext_id = _int(parts[0].split("/")[0], 0)
                if 1 <= ext_id <= 255:
                    found[parts[1]] = ext_id
        return found

    def ssrcs(self) -> list[int]:
        """SSRCs in order of first appearance."""
        seen: list[int] = []
        for value in self.values("ssrc"):
            ssrc = _int(value.split(" ", 1)[0], -1)
            if 0 <= ssrc < 2**32 and ssrc not in seen:
                seen.append(ssrc)
        return seen

    def ssrc_groups(self) -> list[tuple[str, list[int]]]:
        groups = []
        for value in self.values("ssrc-group"):
            parts = value.split()
            if parts:
                groups.append((parts[0], [_int(p, -1) for p in parts[1:]]))
        return groups

    def msid_stream(self) -> str | None:
        """The stream id from a=msid (or from an a=ssrc msid: line)."""
        msid = self.value("msid")
        if msid:
            return msid.split()[0]
        for value in self.values("ssrc"):
            _, _, rest = value.partition(" ")
            if rest.startswith("msid:"):
                return rest[5:].split()[0] if rest[5:].split() else None
        return None

    def rids(self) -> list[str]:
        return [v.split()[0] for v in self.values("rid") if v.split()]


@dataclass
class SessionDescription:
    """A parsed description: session attributes and m-sections."""

    attributes: list[tuple[str, str]]
    media: list[Media]

    def value(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value
        return None

    def media_or_session(self, media: Media, name: str) -> str | None:
        return media.value(name) or self.value(name)

    def fingerprints(self, media: Media) -> list[tuple[str, str]]:
        values = media.values("fingerprint")
        values = values or [v for k, v in self.attributes if k == "fingerprint"]
        found = []
        for value in values:
            algorithm, _, digest = value.partition(" ")
            if digest:
                found.append((algorithm.lower(), digest.strip().upper()))
        return found


def _int(text: str, default: int) -> int:
    return int(text) if text.isdigit() and len(text) < 12 else default


def _parse_rtpmap(value: str) -> Codec | None:
    pt, _, encoding = value.partition(" ")
    parts = encoding.strip().split("/")
    if not pt.isdigit() or int(pt) > 127 or len(parts) < 2 or not parts[1].isdigit():
        return None
    channels = _int(parts[2], 0) if len(parts) > 2 else 0
    return Codec(int(pt), parts[0], int(parts[1]), channels)


def _parse_media_line(value: str) -> Media:
    parts = value.split()
    if len(parts) < 3 or not parts[1].split("/")[0].isdigit():
        raise SdpError(f"bad m-line: {value[:80]!r}")
    return Media(parts[0], int(parts[1].split("/")[0]), parts[2], parts[3:])


def parse(text: str) -> SessionDescription:
    """Parse an SDP; raise SdpError if it is not usable."""
    if not isinstance(text, str) or len(text) > MAX_SDP_BYTES:
        raise SdpError("description missing or too large")
    session: list[tuple[str, str]] = []
    media: list[Media] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            media.append(_parse_media_line(value))
        elif kind == "a":
            name, _, attr_value = value.partition(":")
            target = media[-1].attributes if media else session
            target.append((name.strip(), attr_value.strip()))
    if not media:
        raise SdpError("description has no m-sections")
    return SessionDescription(session, media)
