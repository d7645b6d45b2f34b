"""Several worker processes on one node (``urok serve --workers N``) behind one front.

One peer connection lives in one process, so rooms are placed on workers: the front accepts
every WebSocket, reads the ``join`` to learn the room, looks up (or chooses, fewest rooms first)
the room's worker in the shared store (``room-node:{room}``), and pipes the connection to it.
Media goes straight to the worker's own UDP port (its SFU announces it). REST, pages and the
calendar are served by the front itself from the shared store; a change to a live room reaches
its worker over the store's pub/sub. HLS and WHIP requests are proxied to the room's worker.

A worker that dies is started again on the same port; its clients' connections close with
1012 (service restart) and they reconnect with their resume keys — the participants are
restored from the store, so nobody waits in the waiting room again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from signaling import messages as m
from signaling.config import Settings
from signaling.state import StateStore

logger = logging.getLogger(__name__)
RESTART_DELAY_S = 0.5


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Worker:
    """One child process running the full server (signaling + SFU) on an internal port."""

    index: int
    port: int
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Supervisor:
    """Starts, watches and restarts the workers; places rooms on them."""

    settings: Settings
    store: StateStore
    workers: list[Worker] = field(default_factory=list)
    _watch: list[asyncio.Task[None]] = field(default_factory=list)
    closing: bool = False

    def plan(self) -> None:
        """Internal ports and, when a UDP range is set, a slice of it for each worker."""
        s = self.settings
        count = s.workers
        span = (s.udp_port_max - s.udp_port_min + 1) // count if s.udp_port_min else 0
        for i in range(count):
            env = {
                "UROK_HOST": "127.0.0.1",
                "UROK_PORT": str(_free_port("127.0.0.1")),
                "UROK_WORKERS": "1",
                "UROK_WORKER_INDEX": str(i),
            }
            if span:
                low = s.udp_port_min + i * span
                env |= {"UROK_UDP_PORT_MIN": str(low), "UROK_UDP_PORT_MAX": str(low + span - 1)}
            self.workers.append(Worker(index=i, port=int(env["UROK_PORT"]), env=env))

    async def start(self, argv: list[str]) -> None:
        self.plan()
        for worker in self.workers:
            await self._spawn(worker, argv)
            self._watch.append(asyncio.get_running_loop().create_task(self._keep(worker, argv)))
        await asyncio.gather(*(self._ready(w) for w in self.workers))
        self._write_state()

    async def _spawn(self, worker: Worker, argv: list[str]) -> None:
        env = {**os.environ, **settings_env(self.settings), **worker.env}
        worker.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "signaling.cli", "serve", "--no-demo", *argv, env=env
        )
        worker.started_at = time.time()
        logger.info(
            "worker %d started (pid %d, port %d)", worker.index, worker.proc.pid, worker.port
        )

    async def _ready(self, worker: Worker, limit_s: float = 30.0) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(int(limit_s / 0.1)):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(worker.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"worker {worker.index} did not start")

    async def _keep(self, worker: Worker, argv: list[str]) -> None:
        """Restart a worker whenever it exits, until the supervisor closes."""
        while not self.closing:
            assert worker.proc is not None
            code = await worker.proc.wait()
            if self.closing:
                return
            logger.error("worker %d exited with %s; restarting", worker.index, code)
            await asyncio.sleep(RESTART_DELAY_S)
            worker.restarts += 1
            await self._spawn(worker, argv)
            self._write_state()
            with contextlib.suppress(RuntimeError):
                await self._ready(worker)

    def _write_state(self) -> None:
        """data_dir/workers.json: pids and ports, for operators (and tests)."""
        state = {
            str(w.index): {
                "pid": w.proc.pid if w.proc else None,
                "port": w.port,
                "restarts": w.restarts,
            }
            for w in self.workers
        }
        path = self.settings.data_dir / "workers.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state))

    async def worker_for(self, room_id: str) -> Worker:
        """The room's worker: as placed before, or the one with the fewest rooms now."""
        key = f"room-node:{room_id}"
        raw = await self.store.get(key)
        if raw is None:
            counts = [await self.store.incr(f"node-rooms:{w.index}", 0) for w in self.workers]
            choice = min(range(len(self.workers)), key=lambda i: (counts[i], i))
            if await self.store.set_if_absent(key, str(choice).encode()):
                await self.store.incr(f"node-rooms:{choice}")
            raw = await self.store.get(key) or str(choice).encode()
        index = int(raw)
        return self.workers[index % len(self.workers)]

    async def close(self) -> None:
        self.closing = True
        for worker in self.workers:
            if worker.proc and worker.proc.returncode is None:
                worker.proc.terminate()
        for worker in self.workers:
            if worker.proc:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(worker.proc.wait(), 10)
                if worker.proc.returncode is None:
                    worker.proc.kill()
        for task in self._watch:
            task.cancel()


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting as UROK_* variables, so a worker starts with the front's configuration."""
    env: dict[str, str] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, tuple):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "1" if value else "0"
        env[f"UROK_{f.name.upper()}"] = str(value)
    env["UROK_PUBLIC_URL"] = settings.base_url()  # links name the front, not a worker
    return env


SUPERVISOR = web.AppKey("supervisor", Supervisor)
HTTP = web.AppKey("front_http", aiohttp.ClientSession)


async def front_websocket(request: web.Request) -> web.WebSocketResponse:
    """Read the join, then pipe the connection to the room's worker."""
    sup = request.app[SUPERVISOR]
    client = web.WebSocketResponse(heartbeat=20.0, max_msg_size=16 * sup.settings.max_message_bytes)
    await client.prepare(request)
    first = await _await_join(client)
    if first is None:
        return client
    data, join = first
    worker = await sup.worker_for(join.room)
    try:
        upstream = await request.app[HTTP].ws_connect(
            worker.url.replace("http", "ws") + "/ws", max_msg_size=0, heartbeat=20.0
        )
    except aiohttp.ClientError:
        await client.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"worker_unavailable")
        return client
    await upstream.send_str(data.decode())
    await _pipe(client, upstream)
    return client


async def _await_join(client: web.WebSocketResponse) -> tuple[bytes, m.Join] | None:
    """Answer ping and refuse anything else until a valid join arrives."""
    async for frame in client:
        if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None
        data = frame.data.encode() if isinstance(frame.data, str) else frame.data
        try:
            msg = m.decode(data)
        except m.ProtocolError as exc:
            await client.send_bytes(
                m.encode(m.Error(id=exc.req_id, code=exc.code, message=exc.message))
            )
            continue
        if isinstance(msg, m.Join):
            return data, msg
        if isinstance(msg, m.Ping):
            await client.send_str(m.encode(m.Pong(id=msg.id, at=time.time())).decode())
            continue
        error = m.Error(id=msg.id, code="not_joined", message="join a room first")
        await client.send_str(m.encode(error).decode())
    return None


async def _pipe(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    async def down() -> None:
        async for frame in upstream:
            if frame.type == WSMsgType.TEXT:
                await client.send_str(frame.data)
            elif frame.type == WSMsgType.BINARY:
                await client.send_bytes(frame.data)
            else:
                break

    async def up() -> None:
        async for frame in client:
            if frame.type == WSMsgType.TEXT:
                await upstream.send_str(frame.data)
            elif frame.type == WSMsgType.BINARY:
                await upstream.send_bytes(frame.data)
            else:
                break

    tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    worker_gone = tasks[0] in done and not client.closed
    if worker_gone:
        # the worker closed or died: the client reconnects and resumes (on a restarted worker)
        code = upstream.close_code or WSCloseCode.SERVICE_RESTART
        if (
            code in (WSCloseCode.ABNORMAL_CLOSURE, WSCloseCode.GOING_AWAY)
            or upstream.close_code is None
        ):
            code = WSCloseCode.SERVICE_RESTART
        await client.close(code=code, message=b"worker_restart" if code == 1012 else b"")
    else:
        await upstream.close()


async def proxy_to_room_worker(request: web.Request) -> web.StreamResponse:
    """HLS and WHIP belong to the worker that holds the room."""
    sup = request.app[SUPERVISOR]
    room_id = request.match_info.get("broadcast_id") or request.match_info["room_id"]
    worker = await sup.worker_for(room_id)
    headers = {
        k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
    }
    body = await request.read()
    async with request.app[HTTP].request(
        request.method, worker.url + request.path_qs, headers=headers, data=body or None
    ) as resp:
        out = web.Response(status=resp.status, body=await resp.read())
        for name, value in resp.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                out.headers[name] = value
        return out
