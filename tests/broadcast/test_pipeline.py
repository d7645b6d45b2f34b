"""Three synthetic speakers → compositor + mixer → one encode → HLS fMP4, read back by FFmpeg."""

from __future__ import annotations

import re
from pathlib import Path

import av

from broadcast.encoder import RenditionSpec
from broadcast.pipeline import open_broadcast
from broadcast.stage import SourceKey
from broadcast.synthetic import SyntheticStage
from recordings.storage import LocalStorage
from tests.broadcast.conftest import SCREEN_AT, SMALL, SWITCH_AT, Recorded
from tests.broadcast.media import av_offsets, decode, first_packet_is_keyframe


def _segments(playlist: str) -> list[tuple[float, str]]:
    return [(float(d), name) for d, name in re.findall(r"#EXTINF:([\d.]+),\n(\S+)", playlist)]


def test_vod_playlist_is_closed_and_segments_fit_the_target(recorded: Recorded) -> None:
    text = (recorded.root / "synthetic" / "180p" / "playlist.m3u8").read_text()
    target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text).group(1))  # type: ignore[union-attr]
    segments = _segments(text)
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    assert target == 2
    assert len(segments) == 4
    assert all(0 < d <= target for d, _ in segments)
    assert abs(sum(d for d, _ in segments) - 7.0) < 1e-6


def test_every_segment_starts_with_a_keyframe(recorded: Recorded) -> None:
    folder = recorded.root / "synthetic" / "180p"
    init = (folder / "init.mp4").read_bytes()
    for _, name in _segments((folder / "playlist.m3u8").read_text()):
        assert first_packet_is_keyframe(init, (folder / name).read_bytes()), name


def test_ffmpeg_reads_the_playlist_with_audio_and_video_in_sync(recorded: Recorded) -> None:
    decoded = decode(recorded.root / "synthetic" / "180p" / "playlist.m3u8")
    assert len(decoded.video) == 7 * 30
    assert abs(len(decoded.audio) / 48000 - 7.0) < 0.1
    offsets = av_offsets(decoded)
    assert len(offsets) >= 5  # one flash a second while a speaker is full frame or in grid
    assert max(offsets) < 0.1, offsets


def test_speaker_change_switches_the_picture_within_one_segment(recorded: Recorded) -> None:
    decoded = decode(recorded.root / "synthetic" / "180p" / "playlist.m3u8")
    start = decoded.video[0][0]
    shown = [(t - start, speaker) for t, _, speaker, _ in decoded.video]
    assert all(s == 0 for t, s in shown if t < SWITCH_AT - 0.01)
    first_s1 = min(t for t, s in shown if s == 1)
    assert SWITCH_AT - 0.01 <= first_s1 <= SWITCH_AT + 2.0
    assert all(s == 1 for t, s in shown if SWITCH_AT + 0.1 < t < SCREEN_AT - 0.01)


def test_screen_share_fills_the_frame(recorded: Recorded) -> None:
    decoded = decode(recorded.root / "synthetic" / "180p" / "playlist.m3u8")
    start = decoded.video[0][0]
    during = [s for t, _, s, _ in decoded.video if SCREEN_AT + 0.1 < t - start < SCREEN_AT + 1]
    assert during and all(s == 2 for s in during)  # the top-left stamp is the screen's


def test_frames_follow_the_clock(recorded: Recorded) -> None:
    decoded = decode(recorded.root / "synthetic" / "180p" / "playlist.m3u8")
    start = decoded.video[0][0]
    for t, index, _, _ in decoded.video[:60]:
        assert index == round((t - start) * 30)


def test_only_shown_sources_are_rendered(recorded: Recorded) -> None:
    assert recorded.rendered_first_second == {SourceKey("s0")}


def test_live_playlist_had_a_window_parts_and_no_endlist(recorded: Recorded) -> None:
    live = recorded.live_playlist
    assert "#EXT-X-ENDLIST" not in live
    assert "seg_000000.m4s" in live and "seg_000001.m4s" in live
    assert '#EXT-X-PART:DURATION=0.50000,URI="seg_000002.p0.m4s",INDEPENDENT=YES' in live
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES" in live


def test_manifest_counts_what_landed(recorded: Recorded) -> None:
    manifest = recorded.storage.read("synthetic/manifest.json").decode()
    assert '"status": "complete"' in manifest
    assert '"segments": 4' in manifest


def test_two_renditions_from_one_composite(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    tiny = RenditionSpec("90p", 160, 90, 100, 48)
    pipeline = open_broadcast("two", SyntheticStage(1), storage, (SMALL, tiny), realtime=False)
    pipeline.run_frames(90)
    master = pipeline.output.master()
    pipeline.close()
    assert master.count("#EXT-X-STREAM-INF") == 2
    assert "RESOLUTION=320x180" in master and "RESOLUTION=160x90" in master
    assert "180p/playlist.m3u8" in master and "90p/playlist.m3u8" in master
    for name, size in (("180p", (320, 180)), ("90p", (160, 90))):
        with av.open(str(tmp_path / "two" / name / "playlist.m3u8")) as container:
            frames = list(container.decode(video=0))
        assert len(frames) == 90
        assert (frames[0].width, frames[0].height) == size
