"""HLS playlist text shared by live output and recordings (RFC 8216, fMP4 segments)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from recordings.manifest import INIT, PLAYLIST, RenditionInfo, SegmentRecord


def master_playlist(renditions: Iterable[RenditionInfo], playlist: str = PLAYLIST) -> str:
    """The multivariant playlist; each rendition's media playlist is ``<name>/<playlist>``."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in renditions:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={r.bandwidth},RESOLUTION={r.width}x{r.height},"
            f'CODECS="{r.codecs}",FRAME-RATE=30.000'
        )
        lines.append(f"{r.name}/{playlist}")
    return "\n".join(lines) + "\n"


def target_duration(segments: Iterable[SegmentRecord], nominal: float) -> int:
    longest = max((s.duration for s in segments), default=nominal)
    return max(1, math.ceil(round(max(longest, nominal), 3)))


def vod_playlist(segments: list[SegmentRecord], nominal: float) -> str:
    """A closed playlist of every segment (EXT-X-ENDLIST): the recording replays from start."""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target_duration(segments, nominal)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{INIT}"',
    ]
    expected = segments[0].seq if segments else 0
    for seg in segments:
        if seg.seq != expected:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXTINF:{seg.duration:.5f},")
        lines.append(seg.name)
        expected = seg.seq + 1
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
