"""Every parser the SFU owns survives the Janus fuzzer corpus and hypothesis-generated input:
it returns a value or None (SDP: raises SdpError), never anything else."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu import rtcp, rtp, sdp, stun
from sfu.forwarder import _strip_extensions

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "janus"


def corpus(kind: str) -> list[bytes]:
    files = sorted(p for p in (CORPORA / f"{kind}_fuzzer").rglob("*") if p.is_file())
    assert files, f"no {kind} corpus under {CORPORA}"
    return [p.read_bytes() for p in files]


def all_corpus_files() -> list[bytes]:
    return corpus("rtp") + corpus("rtcp") + corpus("sdp")


def exercise_binary(data: bytes) -> None:
    """Every byte-level parser on one input."""
    size = rtp.header_length(data, len(data))
    assert 0 <= size <= len(data)
    for ext_id, offset, length in rtp.extensions(data):
        assert 1 <= ext_id <= 255 and offset + length <= len(data)
        rtp.extension_value(data, ext_id)
    if size:
        rewritten = rtp.rewrite_extensions(data, {1: 2, 2: 1, 3: 14})
        assert rtp.header_length(rewritten, len(rewritten)) or not rtp.extensions(data)
        _strip_extensions(data, frozenset({1, 2, 3}))
        rtp.vp8_keyframe(data[size:])
        rtp.h264_keyframe(data[size:])
    items = rtcp.parse(data)
    assert items is None or isinstance(items, list)
    message = stun.parse(data)
    if message is not None:
        stun.check_integrity(message, b"key")
        assert message.username is None or isinstance(message.username, str)


def exercise_sdp(text: str) -> None:
    try:
        desc = sdp.parse(text)
    except sdp.SdpError:
        return
    for media in desc.media:
        media.codecs()
        media.extmaps()
        media.ssrcs()
        media.ssrc_groups()
        media.msid_stream()
        media.rids()
        desc.fingerprints(media)
        assert media.direction in sdp.DIRECTIONS


@pytest.mark.parametrize("kind", ["rtp", "rtcp", "sdp"])
def test_corpus_survives_every_parser(kind: str) -> None:
    for data in corpus(kind):
        exercise_binary(data)
        exercise_sdp(data.decode("utf-8", errors="replace"))
        for cut in (1, 4, 12, 20, len(data) // 2):
            exercise_binary(data[:cut])


def test_corpus_rtp_with_known_shapes_parse() -> None:
    parsed = [d for d in corpus("rtp") if rtp.header_length(d, len(d))]
    assert len(parsed) >= 5  # the corpus does hold valid packets: the parser accepts them
    sdps = []
    for data in corpus("sdp"):
        with contextlib.suppress(sdp.SdpError):
            sdps.append(sdp.parse(data.decode("utf-8", errors="replace")))
    assert any(m.codecs() for d in sdps for m in d.media)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    exercise_binary(data)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 15),
    st.booleans(),
    st.binary(min_size=0, max_size=60),
    st.binary(min_size=0, max_size=100),
)
def test_rtp_shaped_bytes(csrc: int, ext: bool, ext_body: bytes, tail: bytes) -> None:
    words = len(ext_body) // 4
    header = bytes([0x80 | (0x10 if ext else 0) | csrc, 96]) + bytes(10) + bytes(4 * csrc)
    if ext:
        header += b"\xbe\xde" + words.to_bytes(2, "big") + ext_body[: 4 * words]
    exercise_binary(header + tail)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 31), st.binary(max_size=40))))
def test_rtcp_shaped_bytes(parts: list[tuple[int, int, bytes]]) -> None:
    data = b""
    for ptype, count, body in parts:
        body = body[: len(body) // 4 * 4]
        data += bytes([0x80 | count, ptype]) + (len(body) // 4).to_bytes(2, "big") + body
    exercise_binary(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "v=0",
                "m=audio 9 UDP/TLS/RTP/SAVPF 111",
                "m=video x",
                "m=",
                "a=rtpmap:111 opus/48000/2",
                "a=rtpmap:96",
                "a=fmtp:96 packetization-mode=1",
                "a=rtcp-fb:* nack",
                "a=extmap:99999 x",
                "a=ssrc:1 cname:a",
                "a=ssrc:abc",
                "a=ssrc-group:FID 1",
                "a=mid:0",
                "a=rid:q send",
                "a=simulcast:send q;h",
                "a=msid:a b",
                "a=fingerprint:sha-256",
                "a=sendonly",
                "garbage",
            ]
        ),
        max_size=30,
    ),
    st.text(max_size=40),
)
def test_sdp_shaped_text(lines: list[str], noise: str) -> None:
    exercise_sdp("\r\n".join([*lines, noise]))


def test_stun_round_trip_and_tamper() -> None:
    key = b"0123456789abcdef01234567"
    request = stun.binding_request(b"t" * 12, "a:b", key)
    message = stun.parse(request)
    assert message is not None and message.username == "a:b"
    assert stun.check_integrity(message, key)
    assert not stun.check_integrity(message, b"other")
    tampered = bytearray(request)
    tampered[-9] ^= 1
    parsed = stun.parse(bytes(tampered))
    assert parsed is None or not stun.check_integrity(parsed, key)
    response = stun.parse(stun.binding_success(b"t" * 12, ("127.0.0.1", 5000), key))
    assert response is not None and stun.check_integrity(response, key)


def test_extension_ids_rewritten_and_stripped() -> None:
    header = bytes([0x90, 96]) + bytes(10)
    ext = b"\xbe\xde\x00\x02" + bytes([0x10, 0xAA, 0x21, 0xBB, 0xCC]) + bytes(3)
    packet = header + ext + b"payload"
    assert rtp.extensions(packet) == [(1, 17, 1), (2, 19, 2)]
    moved = rtp.rewrite_extensions(packet, {2: 5})
    assert rtp.extensions(moved) == [(5, 17, 2)] and moved.endswith(b"payload")
    assert rtp.extension_value(moved, 5) == b"\xbb\xcc"
    blanked = _strip_extensions(packet, frozenset({1}))
    assert len(blanked) == len(packet) and rtp.extensions(blanked) == [(2, 19, 2)]
