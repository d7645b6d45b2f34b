"""The recording manifest (``manifest.json``) and the per-rendition segment index.

The manifest is small and constant-size (rewritten atomically as each segment lands); the
segment list is an append-only JSON-lines file per rendition (``index.jsonl``), so hours of
recording never grow what is held in memory or rewritten.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Status = Literal["recording", "complete", "interrupted"]
MANIFEST = "manifest.json"
INDEX = "index.jsonl"
PLAYLIST = "playlist.m3u8"
MASTER = "master.m3u8"
INIT = "init.mp4"


def segment_name(seq: int) -> str:
    return f"seg_{seq:06d}.m4s"


@dataclass(frozen=True)
class RenditionInfo:
    """One encoded rendition of a recording and what has landed of it so far."""

    name: str
    width: int
    height: int
    bandwidth: int
    codecs: str = "avc1.64001f,mp4a.40.2"
    segments: int = 0
    duration: float = 0.0
    size: int = 0


@dataclass(frozen=True)
class SegmentRecord:
    """One line of ``index.jsonl``: a segment that is complete on storage."""

    seq: int
    duration: float
    size: int
    start: float

    @property
    def name(self) -> str:
        return segment_name(self.seq)

    def to_line(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> SegmentRecord:
        raw = json.loads(line)
        return cls(int(raw["seq"]), float(raw["duration"]), int(raw["size"]), float(raw["start"]))


@dataclass(frozen=True)
class Manifest:
    """What a recording is: id, title, status, times, target duration and renditions."""

    id: str
    title: str = ""
    status: Status = "recording"
    created: float = field(default_factory=time.time)
    ended: float | None = None
    target_duration: float = 2.0
    renditions: tuple[RenditionInfo, ...] = ()
    write_errors: int = 0

    @property
    def duration(self) -> float:
        return max((r.duration for r in self.renditions), default=0.0)

    @property
    def size(self) -> int:
        return sum(r.size for r in self.renditions)

    def rendition(self, name: str) -> RenditionInfo | None:
        return next((r for r in self.renditions if r.name == name), None)

    def with_rendition(self, info: RenditionInfo) -> Manifest:
        others = tuple(info if r.name == info.name else r for r in self.renditions)
        return replace(self, renditions=others)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw: dict[str, Any] = json.loads(data)
        renditions = tuple(RenditionInfo(**r) for r in raw.pop("renditions", []))
        return cls(**raw, renditions=renditions)
