"""Signaling at 300: real WebSocket clients join one room of a real `urok serve` process.

Prints the wall time for all to join, the messages each client receives per join of another,
the server's CPU for the joins (from /proc) and its memory per participant.

    python -m bench.signaling --participants 300 [--state redis://127.0.0.1:6379/0] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import free_port, print_result, process_cpu_seconds
from signaling import auth
from signaling import messages as m

SECRET = "bench-secret-0123456789abcdef0123456789"
API_KEY = "bench-api-key"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Client:
    ws: aiohttp.ClientWebSocketResponse
    in_welcome: int = 0  # participants listed in this client's welcome (itself included)
    after_welcome: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    frames: int = 0  # WebSocket frames (several messages may share one: "batch")
    welcome: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            self.frames += 1
            for msg in m.decode_frame(frame.data):
                if isinstance(msg, m.Welcome):
                    self.in_welcome = len(msg.participants)
                    self.welcome.set()
                    continue
                if self.welcome.is_set():
                    self.after_welcome += 1
                    kind = type(msg).__name__
                    self.kinds[kind] = self.kinds.get(kind, 0) + 1


async def _start_server(
    port: int, state: str, data_dir: str, cpu: int | None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "UROK_SECRET": SECRET, "UROK_API_KEYS": API_KEY, "UROK_MEDIA": "0"}
    cmd = [sys.executable, "-m", "signaling.cli", "serve", "--port", str(port)]
    cmd += ["--data-dir", data_dir, "--state", state, "--no-demo"]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


async def _join(http: aiohttp.ClientSession, url: str, room: str, i: int) -> Client:
    ws = await http.ws_connect(url, max_msg_size=0)
    client = Client(ws=ws)
    asyncio.get_running_loop().create_task(client.read())
    role: auth.Role = "teacher" if i == 0 else "student"
    token = auth.mint(SECRET, user_id=f"u{i}", name=f"Участник {i}", role=role, room=room)
    join = m.Join(id=1, room=room, version=1, token=token)
    await ws.send_bytes(m.encode_client(join))
    await asyncio.wait_for(client.welcome.wait(), 30)
    return client


async def run(participants: int, state: str, batch: int, pin: bool) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        if pin:
            os.sched_setaffinity(0, {1})
        proc = await _start_server(port, state, data_dir, 0 if pin else None)
        try:
            return await _measure(proc.pid, port, participants, batch, state)
        finally:
            proc.terminate()
            proc.wait(10)


async def _measure(pid: int, port: int, n: int, batch: int, state: str) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    auth_header = {"Authorization": f"Bearer {API_KEY}"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(headers=auth_header, connector=connector) as http:
        body = {"title": "bench", "settings": {"waiting_room": False}}
        async with http.post(f"{base}/api/rooms", json=body) as resp:
            room = (await resp.json())["id"]
        rss0, cpu0, t0 = rss_mb(pid), process_cpu_seconds(pid), time.perf_counter()
        clients: list[Client] = []
        for start in range(0, n, batch):
            group = range(start, min(n, start + batch))
            clients += await asyncio.gather(*(_join(http, f"{base}/ws", room, i) for i in group))
        join_all = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # let the last diffs arrive
        cpu, rss1 = process_cpu_seconds(pid) - cpu0, rss_mb(pid)
        expected = sum(n - c.in_welcome for c in clients)
        received = sum(c.kinds.get("ParticipantJoined", 0) for c in clients)
        other = sum(c.after_welcome - c.kinds.get("ParticipantJoined", 0) for c in clients)
        for c in clients:
            await c.ws.close()
    return {
        "participants": n,
        "state": state,
        "join_all_s": round(join_all, 3),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_ms_per_join": round(1000 * cpu / n, 3),
        "msgs_per_join_per_client": round(received / max(1, expected), 3),
        "other_msgs_received": other,
        "rss_mb_per_participant": round((rss1 - rss0) / n, 4),
        "server_rss_mb": round(rss1, 1),
        "batch": batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--state", default="memory")
    parser.add_argument("--batch", type=int, default=1, help="joins in flight at once")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server / clients")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin = not args.no_pin and os.cpu_count() not in (None, 1)
    result = asyncio.run(run(args.participants, args.state, args.batch, pin))
    print_result(result, args.json)


if __name__ == "__main__":
    main()
