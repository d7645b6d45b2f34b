"""The mixer, numerically: loudest K, never clips, no pops at speaker changes."""

from __future__ import annotations

import numpy as np

from broadcast.mixer import AudioMixer, soft_clip

RATE = 48000
BLOCK = 1600
UP, DOWN = np.pi / 2, -np.pi / 2  # cosines: a cut at a block edge lands on a peak


def tone(
    freq: float, level: float, first: int, count: int = BLOCK, phase: float = 0.0
) -> np.ndarray:
    t = (first + np.arange(count)) / RATE
    return (level * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def run(mixer: AudioMixer, voices_at: object, blocks: int) -> np.ndarray:
    out = []
    for b in range(blocks):
        voices = voices_at(b * BLOCK)  # type: ignore[operator]
        out.append(mixer.mix(voices, BLOCK))
    return np.concatenate(out, axis=1)


def test_full_scale_voices_in_phase_never_clip() -> None:
    mixer = AudioMixer(k=3)
    out = run(mixer, lambda s: {f"v{i}": tone(300, 1.0, s) for i in range(3)}, 30)
    assert out.shape == (2, 30 * BLOCK)
    assert float(np.max(np.abs(out))) <= 1.0
    assert float(np.max(np.abs(out[:, 10 * BLOCK :]))) > 0.7  # still loud, not muted


def test_square_waves_summing_to_three_stay_below_one() -> None:
    mixer = AudioMixer(k=3)
    square = lambda s: np.sign(tone(50, 1.0, s)).astype(np.float32)  # noqa: E731
    out = run(mixer, lambda s: {f"v{i}": square(s) for i in range(3)}, 20)
    assert float(np.max(np.abs(out))) <= 1.0


def test_quiet_signals_pass_unchanged() -> None:
    mixer = AudioMixer(k=3)
    out = run(mixer, lambda s: {"a": tone(440, 0.3, s)}, 20)
    expected = tone(440, 0.3, 0, 20 * BLOCK)
    steady = slice(2 * BLOCK, None)  # after the fade-in
    assert np.allclose(out[0, steady], expected[steady], atol=1e-4)


def test_only_the_three_loudest_are_mixed() -> None:
    mixer = AudioMixer(k=3)
    levels = {"a": 0.3, "b": 0.25, "c": 0.2, "d": 0.02, "e": 0.01}
    freqs = {"a": 210, "b": 300, "c": 510, "d": 705, "e": 1110}  # whole FFT bins of 4 blocks
    run(mixer, lambda s: {v: tone(freqs[v], lvl, s) for v, lvl in levels.items()}, 20)
    assert mixer.selected() == ["a", "b", "c"]
    out = run(mixer, lambda s: {v: tone(freqs[v], lvl, s) for v, lvl in levels.items()}, 4)
    spectrum = np.abs(np.fft.rfft(out[0]))
    bins = np.fft.rfftfreq(out.shape[1], 1 / RATE)
    power = {f: spectrum[np.argmin(np.abs(bins - f))] for f in freqs.values()}
    assert power[705] < 1e-3 * power[510] and power[1110] < 1e-3 * power[510]


def _max_step(signal: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(signal))))


def envelope(first: int, count: int, high_until: int, rising: bool) -> np.ndarray:
    """0.5 before ``high_until`` then 0.05 (or the reverse), moving smoothly over 10 ms."""
    idx = first + np.arange(count)
    x = np.clip((idx - high_until) / 480, 0.0, 1.0)
    return (0.05 + 0.45 * x) if rising else (0.5 - 0.45 * x)


def test_speaker_change_fades_instead_of_popping() -> None:
    # A talks loudly then softly; B the reverse, in opposite phase. The inputs are smooth;
    # the mixer's switch from A to B (k=1) must not add a step of its own.
    change = 15 * BLOCK

    def voices(first: int) -> dict[str, np.ndarray]:
        a = tone(100, 1.0, first, phase=UP) * envelope(first, BLOCK, change, rising=False)
        b = tone(100, 1.0, first, phase=DOWN) * envelope(first, BLOCK, change, rising=True)
        return {"a": a.astype(np.float32), "b": b.astype(np.float32)}

    mixer = AudioMixer(k=1)
    blocks, chosen = [], []
    for n in range(40):
        blocks.append(mixer.mix(voices(n * BLOCK), BLOCK)[0])
        chosen.append(mixer.selected()[0])
    out = np.concatenate(blocks)
    switch = chosen.index("b")
    assert switch > 15  # B won only after A got quiet: a real change happened mid-tone
    natural = 0.5 * 2 * np.pi * 100 / RATE  # steepest step of the loud tone itself
    assert _max_step(out[BLOCK:]) < natural + 0.5 / mixer._fade + 1e-3
    naive = np.concatenate([voices(n * BLOCK)[c] for n, c in enumerate(chosen)])
    assert _max_step(naive) > 0.3  # what a hard switch would do
    assert _max_step(naive) > 10 * _max_step(out[BLOCK:])


def test_a_voice_leaving_fades_out() -> None:
    mixer = AudioMixer(k=3)
    run(mixer, lambda s: {"a": tone(100, 0.5, s)}, 10)
    tail = run(mixer, lambda s: {}, 2)[0]
    assert abs(float(tail[0])) < 0.05 + 0.5 * 2 * np.pi * 100 / RATE
    assert float(np.max(np.abs(tail[BLOCK:]))) == 0.0
    assert _max_step(tail) < 0.05


def test_soft_clip_is_identity_below_the_knee_and_bounded_above() -> None:
    x = np.linspace(-50, 50, 100001)
    y = soft_clip(x)
    assert float(np.max(np.abs(y))) <= 1.0
    small = np.abs(x) <= 0.8
    assert np.array_equal(y[small], x[small])
    assert np.all(np.diff(y) >= 0)  # monotonic: no folding distortion
