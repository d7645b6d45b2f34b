"""A WHIP publisher in its own process (PyAV holds the GIL while FFmpeg's muxer connects).

python -m tests.integration.whip_client URL TOKEN CERT KEY SECONDS
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np


def _publish(url: str, token: str, cert: Path, key: Path, seconds: float) -> None:
    """A test pattern and a tone, H.264 + Opus, pushed through FFmpeg's whip muxer."""
    options: dict[str, Any] = {
        "authorization": token,
        "cert_file": str(cert),
        "key_file": str(key),
        "whip_flags": "dtls_active",
        "handshake_timeout": "5000",
    }
    with av.open(url, "w", format="whip", options=options) as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        video.options = {
            "profile": "baseline",
            "tune": "zerolatency",
            "preset": "ultrafast",
            "g": "30",
            "bf": "0",
        }
        audio = out.add_stream("libopus", rate=48000)
        audio.layout = "stereo"  # the muxer takes 48 kHz stereo Opus only
        frames = int(seconds * 30)
        for i in range(frames):
            img = np.full((180, 320, 3), (i * 5) % 255, dtype=np.uint8)
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, 30)
            for packet in video.encode(vf):
                out.mux(packet)
            tone = (np.sin(np.arange(1600) * 0.05) * 8000).astype(np.int16)
            af = av.AudioFrame.from_ndarray(
                np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
            )
            af.sample_rate, af.pts, af.time_base = 48000, i * 1600, Fraction(1, 48000)
            for packet in audio.encode(af):
                out.mux(packet)
            time.sleep(1 / 30)
        for packet in video.encode(None):
            out.mux(packet)


if __name__ == "__main__":
    url, token, cert, key, seconds = sys.argv[1:6]
    _publish(url, token, Path(cert), Path(key), float(seconds))
