"""Wire formats `urok loadtest` writes or reads by hand: the publisher's offer as a browser
writes it (simulcast by rid), the answer to an SFU offer once aiortc no longer owns the
connection, batch frames, and the abs-send-time header extension."""

from __future__ import annotations

import contextlib

import msgspec

from bench import loadtest_media as media
from signaling import messages as m


def munge_offer(offer: str, simulcast_mid: str | None, audio_mids: list[str]) -> str:
    """The offer as a browser would send it: abs-send-time on audio too, and for the simulcast
    camera the rid / mid extensions, a=rid:l/m/h send, a=simulcast:send l;m;h and no a=ssrc."""
    lines = offer.replace("\r\n", "\n").strip("\n").split("\n")
    used = {int(v.split()[0].split("/")[0]) for v in _attr_values(lines, "extmap")}
    ids = {v.split()[1]: int(v.split()[0].split("/")[0]) for v in _attr_values(lines, "extmap")}
    free = (i for i in range(1, 15) if i not in used)
    for uri in (media.MID_URI, media.ABS_SEND_TIME_URI, media.RID_URI):
        if uri not in ids:
            ids[uri] = next(free)
    out: list[str] = []
    for section in _sections(lines):
        mid = next((v for v in _attr_values(section, "mid")), None)
        present = {v.split()[1] for v in _attr_values(section, "extmap")}
        wanted: list[str] = []
        if mid is not None and mid in audio_mids:
            wanted = [media.MID_URI, media.ABS_SEND_TIME_URI]
        if mid is not None and mid == simulcast_mid:
            wanted = [media.MID_URI, media.ABS_SEND_TIME_URI, media.RID_URI]
            section = [s for s in section if not s.startswith(("a=ssrc:", "a=ssrc-group:"))]
        section += [f"a=extmap:{ids[uri]} {uri}" for uri in wanted if uri not in present]
        if mid is not None and mid == simulcast_mid:
            section += [f"a=rid:{layer.name} send" for layer in media.SIMULCAST]
            section += ["a=simulcast:send " + ";".join(layer.name for layer in media.SIMULCAST)]
        out += section
    return "\r\n".join(out) + "\r\n"


def _sections(lines: list[str]) -> list[list[str]]:
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    return sections


def _attr_values(lines: list[str], name: str) -> list[str]:
    prefix = f"a={name}:"
    return [line[len(prefix) :] for line in lines if line.startswith(prefix)]


def answer_for(offer: str, own: str, version: int) -> str:
    """Our answer to an SFU offer, written by hand (aiortc no longer owns the connection once
    its socket is taken): each of the SFU's sections received (recvonly) with the codecs and
    extensions as offered; our own sections as we offered them; ICE and DTLS as before."""
    theirs = _sections(offer.replace("\r\n", "\n").strip("\n").split("\n"))
    ours = _sections(own.replace("\r\n", "\n").strip("\n").split("\n"))[1:]
    by_mid = {next(iter(_attr_values(x, "mid")), ""): x for x in ours}
    creds = [x for x in ours[0] if x.startswith(("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:"))]
    copied = ("c=", "a=extmap:", "a=rtpmap:", "a=fmtp:", "a=rtcp-fb:", "a=rtcp-mux", "a=rtcp:")
    flipped = {"sendonly": "recvonly", "sendrecv": "recvonly", "recvonly": "inactive"}
    mids: list[str] = []
    body: list[str] = []
    for section in theirs[1:]:
        mid = next(iter(_attr_values(section, "mid")), "")
        if section[0].split()[1] == "0":
            body += [section[0], f"a=mid:{mid}"]
            continue
        mids.append(mid)
        if mid in by_mid:
            body += [x.replace("a=setup:actpass", "a=setup:active") for x in by_mid[mid]]
            continue
        direction = next((x[2:] for x in section if x[2:] in flipped), "inactive")
        body += [section[0], f"a=mid:{mid}", *creds, "a=setup:active"]
        body += [f"a={flipped.get(direction, 'inactive')}"]
        body += [x for x in section[1:] if x.startswith(copied)]
    head = ["v=0", f"o=- 1 {version} IN IP4 0.0.0.0", "s=-", "t=0 0"]
    head += ["a=group:BUNDLE " + " ".join(mids), "a=msid-semantic:WMS *"]
    return "\r\n".join(head + body) + "\r\n"


class _Batch(msgspec.Struct, frozen=True):
    messages: list[msgspec.Raw]


_batch = msgspec.json.Decoder(_Batch)
_BATCH = b'{"type":"batch"'


def server_messages(data: str) -> tuple[list[m.ServerMessage], int]:
    """The messages of one server frame: one, or those of a batch frame
    (``{"type":"batch","messages":[...]}``, docs/protocol.md), in order; and how many could
    not be read (a message type newer than this tool), which are skipped."""
    raw = data.encode()
    items = [bytes(x) for x in _batch.decode(raw).messages] if raw.startswith(_BATCH) else [raw]
    found = []
    for item in items:
        with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
            found.append(m.decode_server(item))
    return found, len(items) - len(found)


def find_abs_send_time(buf: bytearray, ext_id: int) -> int:
    """The abs-send-time value of an RTP packet's one-byte extension block, or -1."""
    if not buf[0] & 0x10:
        return -1
    off = 12 + 4 * (buf[0] & 0x0F)
    if buf[off] != 0xBE or buf[off + 1] != 0xDE:
        return -1
    pos = off + 4
    end = pos + 4 * ((buf[off + 2] << 8) | buf[off + 3])
    while pos < end:
        b = buf[pos]
        if b == 0:
            pos += 1
            continue
        if b >> 4 == ext_id:
            return (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]
        if b >> 4 == 15:
            return -1
        pos += 2 + (b & 0x0F)
    return -1
