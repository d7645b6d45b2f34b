"""The server a `urok loadtest` run measures: its own `python -m signaling.cli serve`
subprocess (free 127.0.0.1 ports, ICE on 127.0.0.1, a known secret and API key), the room,
and the CPU figures read from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from bench.common import free_port, process_cpu_seconds
from bench.loadtest_config import API_KEY, HOST_USER, SECRET


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (the server and its SFU egress process), from /proc."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += process_tree(int(child))
    return found


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each process of the tree (a process gone meanwhile is left out)."""
    found = {}
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            found[member] = process_cpu_seconds(member)
    return found


def cpu_times() -> dict[int, tuple[float, float]]:
    """Each CPU's (busy, softirq) seconds since boot, from /proc/stat (busy: not idle or
    iowait — every process and interrupt, ours and others')."""
    found = {}
    tick = os.sysconf("SC_CLK_TCK")
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields[:8]]
            busy = sum(values) - values[3] - values[4]
            found[int(name[3:])] = (busy / tick, values[6] / tick)
    return found


def udp_receive_errors() -> int:
    """The kernel's UDP RcvbufErrors (datagrams dropped on full socket buffers), machine-wide."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        lines = [x.split() for x in Path("/proc/net/snmp").read_text().splitlines()]
        names, values = [x for x in lines if x[0] == "Udp:"][:2]
        return int(values[names.index("RcvbufErrors")])
    return 0


class OwnServer:
    """`python -m signaling.cli serve` on free 127.0.0.1 ports with a known secret and key."""

    def __init__(self, pin: bool, egress: bool = False, egress_share: float = 0.55) -> None:
        self.pin = pin
        self.egress = egress
        self.egress_share = egress_share
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="urok-loadtest-"))
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        env = {**os.environ, "UROK_SECRET": SECRET, "UROK_API_KEYS": API_KEY}
        env["UROK_LOG_LEVEL"] = "WARNING"
        env["UROK_MEDIA_EGRESS"] = "1" if self.egress else "0"  # one process unless asked
        env["UROK_MEDIA_EGRESS_SHARE"] = str(self.egress_share)
        cmd = [sys.executable, "-m", "signaling.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--ice-address", "127.0.0.1", "--no-demo"]
        cmd += ["--data-dir", str(self.dir / "data"), "--state", "memory"]
        with (self.dir / "server.log").open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        if self.pin:
            os.sched_setaffinity(self.proc.pid, {0})
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                if self.proc.returncode is not None:
                    break
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not start:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.dir / "server.log").read_text().splitlines()[-lines:])
        return ""

    async def stop(self) -> None:
        """Terminate (then kill) the server and remove its directory; idempotent."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await asyncio.wait_for(self.proc.wait(), 10)
        shutil.rmtree(self.dir, ignore_errors=True)


async def create_room(http: aiohttp.ClientSession, base: str, api_key: str) -> str:
    body = {"title": "urok loadtest", "owner": HOST_USER, "settings": {"waiting_room": False}}
    headers = {"Authorization": f"Bearer {api_key}"}
    async with http.post(f"{base}/api/rooms", json=body, headers=headers) as resp:
        if resp.status != 201:
            raise RuntimeError(f"creating the room: HTTP {resp.status} {await resp.text()}")
        room: str = (await resp.json())["id"]
        return room
