"""Shared fixtures: a real redis-server (started if none answers) and store factories."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from signaling.state import MemoryStore, StateStore
from signaling.state.redis import RedisStore

REPO = Path(__file__).resolve().parent.parent
CORPORA = REPO.parent / "shared" / "corpora"
# Debian's Chromium headless on these machines (see the developers' guide): no sandbox, no
# background networking (it floods a closed network), fake camera and microphone, loopback ICE
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Real Chromium (the Debian package) through Playwright, closed after the test."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's redis on 6379, or one this session starts and stops."""
    if _answers(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (scripts/test installs it)"
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        if _answers(port):
            break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(5)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """Runs a test once per state backend."""
    return str(request.param)


@pytest.fixture
async def store(backend: str, redis_url: str) -> AsyncIterator[StateStore]:
    if backend == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        yield redis_store
    finally:
        await redis_store.flush_prefix()
        await redis_store.close()
