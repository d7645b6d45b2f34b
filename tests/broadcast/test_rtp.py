"""RTP → frames: parsing, jitter buffer, depacketizers, decoders; garbage never crashes it."""

from __future__ import annotations

import random
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcast.decode import DecodeThread, RtpTrack, audio_track, video_track
from broadcast.depay import CODECS, Codec
from broadcast.rtp import JitterBuffer, RtpError, RtpPacket, parse_rtp
from broadcast.stage import SourceKey, StageBuffer

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "janus" / "rtp_fuzzer"


def rtp(seq: int, ts: int, payload: bytes, marker: bool = False, pt: int = 96) -> bytes:
    header = struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts, 1234)
    return header + payload


def video_packets(codec: Codec, frames: int, key_at: tuple[int, ...] = ()) -> list[list[bytes]]:
    """Real packetization by aiortc's encoders; one list of RTP packets per frame."""
    encoder = Vp8Encoder() if codec == "vp8" else H264Encoder()
    out: list[list[bytes]] = []
    seq = 65530  # crosses the 16-bit wrap
    for i in range(frames):
        img = np.zeros((180, 320, 3), np.uint8)
        img[:, (i * 8) % 320 :] = 200
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
        payloads, ts = encoder.encode(frame, force_keyframe=i in key_at)
        packets = []
        for j, payload in enumerate(payloads):
            packets.append(rtp(seq, ts, payload, marker=j == len(payloads) - 1))
            seq += 1
        out.append(packets)
    return out


def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file())
    assert len(files) >= 30, CORPUS
    return files


def test_parse_rtp_skips_csrc_extension_and_padding() -> None:
    header = struct.pack(">BBHII", 0x80 | 0x20 | 0x10 | 2, 0x80 | 111, 7, 960, 42)
    csrcs = b"\x00" * 8
    extension = struct.pack(">HH", 0xBEDE, 1) + b"\x10\xff\x00\x00"
    packet = parse_rtp(header + csrcs + extension + b"opus" + b"\x00\x00\x03")
    assert packet == RtpPacket(111, True, 7, 960, 42, b"opus")
    for bad in (b"", b"\x80" * 11, b"\x40" + b"\x00" * 20, header + csrcs):
        with pytest.raises(RtpError):
            parse_rtp(bad)


def test_jitter_buffer_reorders_across_the_sequence_wrap() -> None:
    buffer = JitterBuffer()
    packets = [
        RtpPacket(96, j % 2 == 1, (65534 + j) & 0xFFFF, 1000 * (j // 2), 1, b"x") for j in range(6)
    ]
    order = [0, 2, 1, 3, 5, 4]
    runs = [r for i in order for r in buffer.add(packets[i])]
    assert [r.timestamp for r in runs] == [0, 1000, 2000]
    assert all(len(r.packets) == 2 and not r.after_loss for r in runs)


def test_jitter_buffer_gives_up_on_a_hole_and_flags_the_loss() -> None:
    buffer = JitterBuffer(max_frames=3)
    runs = []
    for j in range(20):
        if j != 4:  # frame 2's first packet is lost
            runs += buffer.add(RtpPacket(96, j % 2 == 1, j, 1000 * (j // 2), 1, b"x"))
    assert [r.timestamp for r in runs][:2] == [0, 1000]
    assert 2000 not in [r.timestamp for r in runs]
    assert any(r.after_loss for r in runs) and runs[-1].timestamp == 9000


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_real_packets_decode_even_when_reordered(codec: Codec) -> None:
    frames: list[av.VideoFrame] = []
    track = RtpTrack(codec, frames.append)  # type: ignore[arg-type]
    rng = random.Random(1)
    for packets in video_packets(codec, 10):
        shuffled = packets[:]
        rng.shuffle(shuffled)
        for packet in shuffled:
            track.feed(packet)
    assert len(frames) >= 9  # the last may wait for the next frame's packets
    assert (frames[0].width, frames[0].height) == (320, 180)
    assert track.malformed == 0 and track.decode_errors == 0


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_loss_waits_for_a_keyframe_and_asks_for_one(codec: Codec) -> None:
    frames: list[av.VideoFrame] = []
    asked: list[int] = []
    track = RtpTrack(codec, frames.append, request_keyframe=lambda: asked.append(1))  # type: ignore[arg-type]
    stream = video_packets(codec, 30, key_at=(20,))
    for i, packets in enumerate(stream):
        for j, packet in enumerate(packets):
            if not (i == 5 and j == 0):
                track.feed(packet)
    assert asked  # a keyframe was requested after the loss
    early = [f for f in frames if f.pts < 5 * 3000]
    late = [f for f in frames if f.pts >= 20 * 3000 - 10]
    assert (len(early), len(late), len(frames)) == (5, 10, 15)  # 0-4, then from the keyframe
    assert track.decode_errors == 0


def test_hidden_video_is_not_decoded_until_shown_again() -> None:
    stage = StageBuffer()
    key = SourceKey("p1")
    asked: list[int] = []
    track = video_track(stage, key, "vp8", lambda: asked.append(1))
    stream = video_packets("vp8", 30, key_at=(15,))
    for packets in stream[:10]:
        for packet in packets:
            track.feed(packet)
    assert track.decoded == 0 and stage.video(key) is None  # not shown: nothing decoded
    stage.want(frozenset({key}))
    for packets in stream[10:]:
        for packet in packets:
            track.feed(packet)
    assert asked  # shown again: asked for a keyframe at once
    assert 13 <= track.decoded <= 15  # decoding resumed at the keyframe (frame 15)
    assert stage.video(key) is not None


def test_opus_audio_reaches_the_mixer_input() -> None:
    stage = StageBuffer()
    track = audio_track(stage, "p1")
    encoder = OpusEncoder()
    t = np.arange(960 * 10) / 48000
    pcm = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    for i in range(10):
        chunk = np.repeat(pcm[i * 960 : (i + 1) * 960], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, Fraction(1, 48000)
        payloads, ts = encoder.encode(frame)
        for payload in payloads:
            track.feed(rtp(i, ts, payload, pt=111))
    samples = stage.audio(9600)["p1"]
    assert track.decoded == 10
    assert 0.1 < float(np.sqrt(np.mean(samples[2000:] ** 2))) < 0.4


def test_decode_thread_feeds_tracks_off_the_caller() -> None:
    frames: list[av.VideoFrame] = []
    track = RtpTrack("vp8", frames.append)  # type: ignore[arg-type]
    worker = DecodeThread()
    for packets in video_packets("vp8", 5):
        for packet in packets:
            worker.submit(track, packet)
    worker.close()
    worker.close()
    assert len(frames) >= 4 and worker.dropped == 0


@pytest.mark.parametrize("codec", CODECS)
def test_fuzzer_corpus_never_crashes(codec: Codec) -> None:
    track = RtpTrack(codec, lambda frame: None)
    for path in corpus_files():
        data = path.read_bytes()
        track.feed(data)
        for seq in range(3):  # the same garbage as consecutive complete frames
            if len(data) >= 12 and data[0] >> 6 == 2:
                patched = data[:1] + bytes([data[1] | 0x80]) + struct.pack(">H", seq) + data[4:]
                track.feed(patched)
    assert track.malformed + track.decode_errors + track.decoded >= 0
    assert isinstance(track.malformed, int)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=20), st.sampled_from(CODECS))
def test_random_bytes_never_crash(packets: list[bytes], codec: Codec) -> None:
    track = RtpTrack(codec, lambda frame: None)
    for packet in packets:
        track.feed(packet)
        track.feed(rtp(len(packet), 0, packet, marker=True))


def test_lost_audio_becomes_silence_so_later_audio_stays_in_time() -> None:
    stage = StageBuffer()
    track = audio_track(stage, "p1")
    encoder = OpusEncoder()
    for i in range(12):
        t = (i * 960 + np.arange(960)) / 48000
        mono = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)  # Opus removes DC
        pcm = np.repeat(mono, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, Fraction(1, 48000)
        payloads, ts = encoder.encode(frame)
        if i in (5, 6):
            continue  # lost on the way
        for payload in payloads:
            track.feed(rtp(i, ts, payload, pt=111))
    samples = stage.audio(12 * 960)["p1"]
    assert track.decoded == 10
    level = np.abs(samples).reshape(12, 960).max(axis=1)
    assert level[5] == 0 and level[6] == 0  # two packets of silence where they were lost
    assert level[7] > 0.1 and level[11] > 0.1  # the rest is where it belongs, not early


def test_stage_buffer_fills_gaps_only_when_timestamps_say_so() -> None:
    stage = StageBuffer()
    tone = np.ones(480, np.float32)
    stage.push_audio("a", tone, ts=0.0)
    stage.push_audio("a", tone, ts=0.02)  # 10 ms missing
    stage.push_audio("a", tone, ts=5.0)  # a long pause: not filled
    stage.push_audio("b", tone)
    stage.push_audio("b", tone)
    out = stage.audio(2000)
    assert out["a"][:480].min() == 1 and out["a"][480:960].max() == 0
    assert out["a"][960:1440].min() == 1 and out["a"][1440:1920].min() == 1
    assert out["b"][:960].min() == 1 and out["b"][960:].max() == 0
