"""Speaker detection and loudest-K audio from the ssrc-audio-level header extension (RFC 6464).

Each audio :class:`~sfu.forwarder.Track` keeps a smoothed loudness (127 minus the level in -dBov
the publisher stamps on every packet). A room's :class:`SpeakerDetector` looks at them a few
times a second: only the K loudest voices that are speaking (plus the hosts' mics) are forwarded
to subscribers, and the dominant speaker and speaking set go to every participant, only when
they change. Tracks whose publisher never stamped a level are always forwarded (nothing to judge).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from sfu.api import Speaking

if TYPE_CHECKING:
    from sfu.forwarder import Track

logger = logging.getLogger(__name__)

LOUDEST_K = 3
EVALUATE_S = 0.34  # at most ~3 decisions (and Speaking events) a second per room
SPEAKING_LOUDNESS = 57.0  # smoothed 127 - dBov: louder than -70 dBov is speech
STALE_S = 1.0  # a publisher that stamped no level for this long is silent
KEEP_BONUS = 3.0  # hysteresis: a forwarded voice is not swapped for one barely louder
DOMINANT_MARGIN = 6.0  # a new dominant speaker must be this much louder than the current one
RECENT = 6  # speakers remembered for last-N video, most recent first


class SpeakerDetector:
    """Decides which audio tracks are forwarded and who is speaking, for one room."""

    def __init__(self, emit: Callable[[Speaking], None], k: int = LOUDEST_K) -> None:
        self.emit = emit
        self.k = k
        self.hosts: set[str] = set()
        self.last: Speaking = Speaking(None, ())
        self.recent: list[str] = []  # who spoke lately, most recent first (for last-N video)
        self.on_change: Callable[[], None] | None = None  # forwarded voices or recent changed
        self._next_at = 0.0
        self.events_sent = 0

    def maybe_evaluate(self, tracks: Iterable[Track], now: float) -> None:
        """Called from the packet path: decide at most once every EVALUATE_S."""
        if now >= self._next_at:
            self.evaluate(tracks, now)

    def evaluate(self, tracks: Iterable[Track], now: float) -> None:
        self._next_at = now + EVALUATE_S
        judged = [t for t in tracks if t.codec.kind == "audio" and t.levels_seen]
        speaking = [t for t in judged if _loudness(t, now) >= SPEAKING_LOUDNESS]
        speaking.sort(key=lambda t: _loudness(t, now) + (KEEP_BONUS if t.audible else 0.0))
        speaking.reverse()
        chosen = {id(t) for t in speaking[: self.k]}
        changed = False
        for track in judged:
            audible = id(track) in chosen or track.owner in self.hosts
            changed |= audible != track.audible
            track.set_audible(audible)
        changed |= self._remember([t.owner for t in speaking[: self.k]])
        self._report(speaking, now)
        if changed and self.on_change is not None:
            self.on_change()

    def _remember(self, loudest: list[str]) -> bool:
        recent = loudest + [p for p in self.recent if p not in loudest]
        recent = recent[:RECENT]
        changed = recent != self.recent
        self.recent = recent
        return changed

    def _report(self, speaking: list[Track], now: float) -> None:
        dominant = self._dominant(speaking, now)
        event = Speaking(dominant, tuple(sorted({t.owner for t in speaking})))
        if event != self.last:
            self.last = event
            self.events_sent += 1
            self.emit(event)

    def _dominant(self, speaking: list[Track], now: float) -> str | None:
        if not speaking:
            return None
        loudest = max(speaking, key=lambda t: _loudness(t, now))
        current = next((t for t in speaking if t.owner == self.last.dominant), None)
        if current is None or current is loudest:
            return loudest.owner
        if _loudness(loudest, now) - _loudness(current, now) >= DOMINANT_MARGIN:
            return loudest.owner
        return current.owner


def _loudness(track: Track, now: float) -> float:
    return track.loudness if now - track.level_at <= STALE_S else 0.0


__all__ = ["LOUDEST_K", "SpeakerDetector"]
