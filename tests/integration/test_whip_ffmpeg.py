"""Real WHIP interop: FFmpeg's whip muxer (inside PyAV) publishes to urok's SFU over loopback."""

from __future__ import annotations

import asyncio
import datetime
import sys
from collections import Counter
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sfu.api import SinkTrack
from sfu.server import SFU
from signaling import auth
from signaling.app import create_app
from signaling.config import Settings
from signaling.state import MemoryStore

REPO = Path(__file__).resolve().parents[2]
SECRET = "whip-secret-0123456789abcdef0123456789"


def _p256_cert(folder: Path) -> tuple[Path, Path]:
    """FFmpeg's default DTLS key is P-224, which OpenSSL in aiortc refuses: hand it a P-256 one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ffmpeg")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class CountingSink:
    def __init__(self) -> None:
        self.tracks: list[SinkTrack] = []
        self.packets: Counter[str] = Counter()

    def track_added(self, track: SinkTrack) -> None:
        self.tracks.append(track)

    def track_removed(self, track: SinkTrack) -> None:
        return None

    def packet(self, track: SinkTrack, packet: bytes) -> None:
        self.packets[track.codec] += 1


async def test_ffmpeg_whip_publishes_onto_the_stage(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=("k",))
    sfu = SFU(ice_addresses=("127.0.0.1",))
    app = create_app(settings, media=sfu, store=MemoryStore())
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        body = {
            "title": "Трансляция",
            "kind": "broadcast",
            "id": "stage1",
            "settings": {"waiting_room": False},
        }
        assert (
            await client.post("/api/rooms", json=body, headers={"Authorization": "Bearer k"})
        ).status == 201
        sink = CountingSink()
        sfu.attach_sink("stage1", sink)
        token = auth.mint(SECRET, user_id="obs", name="Актовый зал", role="teacher", room="stage1")
        cert, key = _p256_cert(tmp_path)
        url = str(client.make_url("/whip/stage1"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.whip_client",
            url,
            token,
            str(cert),
            str(key),
            "3",
            cwd=REPO,
        )
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        assert {(t.source, t.codec) for t in sink.tracks} == {("mic", "opus"), ("camera", "h264")}
        from signaling.ws import HUB

        room = await client.app[HUB].room("stage1")
        for _ in range(30):  # the muxer DELETEs its session when it closes
            if not room.participants:
                break
            await asyncio.sleep(0.1)
        assert not room.participants, "the WHIP session ended with the muxer's DELETE"
        assert sink.packets["h264"] >= 60 and sink.packets["opus"] >= 100
        sfu.detach_sink("stage1", sink)
