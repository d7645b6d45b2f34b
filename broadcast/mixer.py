"""Mix the loudest K voices into stereo 48 kHz float32, never clipping, never popping.

Per block: each voice's level is smoothed (so selection does not flap); the K loudest get a
target gain of 1, others 0; every gain moves linearly towards its target over ``fade_ms`` (no
step at a speaker change). The sum goes through a peak limiter whose gain is interpolated
across the block (fast attack, slow release), then a soft-knee saturator as the last guard: the
output magnitude is always below 1.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48000


def soft_clip(x: np.ndarray, knee: float = 0.8) -> np.ndarray:
    """Identity below ``knee``; above it a tanh curve that approaches (never reaches) 1."""
    mag = np.abs(x)
    over = mag > knee
    if not over.any():
        return x
    span = 1.0 - knee
    out = x.copy()
    out[over] = np.sign(x[over]) * (knee + span * np.tanh((mag[over] - knee) / span))
    return out


class AudioMixer:
    """Mixes the ``k`` loudest of any number of mono voices; keeps per-voice fade state."""

    def __init__(
        self,
        k: int = 3,
        fade_ms: float = 20.0,
        ceiling: float = 0.9,
        release_s: float = 0.5,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        self.k = k
        self.ceiling = ceiling
        self._fade = max(1, int(sample_rate * fade_ms / 1000))
        self._release = release_s * sample_rate
        self._gains: dict[str, float] = {}
        self._levels: dict[str, float] = {}
        self._limiter = 1.0

    def selected(self) -> list[str]:
        """The voices currently selected (target gain 1), loudest first."""
        ranked = sorted(self._levels, key=lambda v: self._levels[v], reverse=True)
        return [v for v in ranked[: self.k] if self._levels[v] > 1e-6]

    def mix(self, voices: Mapping[str, np.ndarray], count: int) -> np.ndarray:
        """Mix ``count`` samples; returns shape (2, count) float32."""
        self._update_levels(voices, count)
        chosen = set(self.selected())
        total = np.zeros(count, dtype=np.float64)
        for voice in set(self._gains) | set(voices):
            samples = voices.get(voice)
            ramp = self._ramp(voice, 1.0 if voice in chosen else 0.0, count)
            if samples is not None and len(samples) >= count:
                total += ramp * samples[:count]
        self._forget_silent(voices)
        mono = soft_clip(self._limit(total)).astype(np.float32)
        return np.stack([mono, mono])

    def _update_levels(self, voices: Mapping[str, np.ndarray], count: int) -> None:
        alpha = min(1.0, count / (0.3 * SAMPLE_RATE))  # ~300 ms smoothing
        for voice in set(self._levels) | set(voices):
            samples = voices.get(voice)
            rms = float(np.sqrt(np.mean(np.square(samples[:count])))) if samples is not None else 0
            old = self._levels.get(voice, rms)
            self._levels[voice] = old + alpha * (rms - old)

    def _ramp(self, voice: str, target: float, count: int) -> np.ndarray:
        start = self._gains.get(voice, 0.0)
        step = 1.0 / self._fade
        steps = np.arange(1, count + 1, dtype=np.float64) * step
        direction = 1.0 if target >= start else -1.0
        ramp = np.clip(start + direction * steps, min(start, target), max(start, target))
        self._gains[voice] = float(ramp[-1])
        return ramp

    def _forget_silent(self, voices: Mapping[str, np.ndarray]) -> None:
        for voice in [v for v, g in self._gains.items() if g == 0.0 and v not in voices]:
            del self._gains[voice]
            self._levels.pop(voice, None)

    def _limit(self, total: np.ndarray) -> np.ndarray:
        """Peak limiter: gain falls at once to fit the block, recovers over ``release_s``."""
        peak = float(np.max(np.abs(total))) if len(total) else 0.0
        wanted = min(1.0, self.ceiling / peak) if peak > 0 else 1.0
        if wanted < self._limiter:
            target = wanted
        else:
            target = min(wanted, self._limiter + len(total) / self._release)
        gain = np.linspace(self._limiter, target, len(total), dtype=np.float64)
        self._limiter = target
        return total * gain
