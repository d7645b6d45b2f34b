"""SFU forwarding throughput: packets out per second per core-second of server CPU.

A real SFU (uvloop, ICE-lite, DTLS, SRTP) runs in a child process pinned to one core; this
process, pinned to the other, drives it: one publisher (real aiortc peer connection) sends
pre-protected ~1.1 kB video RTP packets; F subscribers (real aiortc peer connections) read every
packet from their sockets. Server CPU comes from /proc/<pid>/stat.

    python -m bench.forwarding [--json] [--fanouts 1,10,50] [--seconds 3]

``pps_out_per_core`` divides packets read by subscribers by the server's CPU time from
/proc/<pid>/stat plus the softirq time of the server's pinned CPU from /proc/stat: on loopback
the kernel delivers each sent packet in softirq on the sender's CPU, which /proc/<pid>/stat does
not charge to the process. ``pps_out_per_process_core`` uses /proc/<pid>/stat alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import process_cpu_seconds

SERVER_CPU, CLIENT_CPU = 0, 1
PAYLOAD_BYTES = 1100
BODY = os.urandom(PAYLOAD_BYTES)
ROOM = "bench"


def softirq_seconds(cpu: int) -> float:
    """Soft-interrupt time of one CPU, from /proc/stat: on loopback the kernel delivers every
    datagram the server sends in softirq on the server's CPU, and (with IRQ time accounting)
    does not charge it to the process."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            return int(line.split()[7]) / os.sysconf("SC_CLK_TCK")
    raise RuntimeError(f"cpu{cpu} not in /proc/stat")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- the server process ----------------------------------------------------------------------


async def serve() -> None:
    """The SFU behind a JSON-lines control socket (stdin/stdout of this child process)."""
    from sfu.api import MediaEvent, SdpOffer
    from sfu.server import SFU

    sfu = SFU(ice_addresses=("127.0.0.1",))
    sfu.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def notify_for(pid: str) -> Callable[[MediaEvent], None]:
        def notify(event: MediaEvent) -> None:
            if isinstance(event, SdpOffer):
                emit({"event": "offer", "pid": pid, "sdp": event.sdp})

        return notify

    while line := await reader.readline():
        req = json.loads(line)
        op, pid, reply = req["op"], req.get("pid", ""), {"id": req["id"]}
        if op == "join":
            await sfu.join(ROOM, pid, frozenset(req["publish"]), notify_for(pid))
        elif op == "offer":
            reply["sdp"] = await sfu.offer(ROOM, pid, req["sdp"])
        elif op == "answer":
            await sfu.answer(ROOM, pid, req["sdp"])
        elif op == "stats":
            reply["stats"] = sfu.stats()
            reply["srtp_profiles"] = sorted(sfu.srtp_profiles())
        emit(reply)
    await sfu.close()


# ---- the load generator ------------------------------------------------------------------------


class Server:
    """The child process and its control channel."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.on_offer: dict[str, Callable[[str], None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.forwarding",
            "--serve",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._task = asyncio.ensure_future(self._read())

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            if "event" in msg:
                self.on_offer[msg["pid"]](msg["sdp"])
            else:
                self._waiting.pop(msg["id"]).set_result(msg)

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        req_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[req_id] = future
        self.proc.stdin.write((json.dumps({"op": op, "id": req_id, **args}) + "\n").encode())
        return await asyncio.wait_for(future, 30)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)
            if self.proc.returncode is None:
                self.proc.kill()
        if self._task is not None:
            self._task.cancel()


class Client:
    """A real aiortc peer connection joined to the server."""

    def __init__(self, server: Server, pid: str) -> None:
        from sfu import aiortc_hook

        self.server = server
        self.pid = pid
        self.pc = aiortc_hook.loopback_peer()
        self.received = 0
        self.sample: bytes | None = None
        self._next_seq = 1
        self.answered = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._negotiating = asyncio.Lock()
        self._sock: socket.socket | None = None
        self._send: Callable[[bytes], None] | None = None

    async def connect(self, kind: str, direction: str, publish: list[str]) -> None:
        from aiortc import RTCSessionDescription

        from sfu import aiortc_hook

        self.server.on_offer[self.pid] = self._offer
        await self.server.call("join", pid=self.pid, publish=publish)
        self.pc.addTransceiver(kind, direction=direction)
        async with self._negotiating:  # the SFU's own offer waits for this exchange
            with aiortc_hook.loopback_candidates():
                await self.pc.setLocalDescription(await self.pc.createOffer())
            sdp = self.pc.localDescription.sdp
            reply = await self.server.call("offer", pid=self.pid, sdp=sdp)
            await self.pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        for _ in range(1000):
            if self.pc.connectionState == "connected":
                break
            await asyncio.sleep(0.01)

    def take_socket(self) -> None:
        """Read (and send) on the raw socket from now on: bulk reads, no per-packet callback."""
        from sfu import aiortc_hook

        self._sock, remote = aiortc_hook.peer_take_socket(self.pc)
        sock = self._sock

        def send(data: bytes) -> None:
            sock.sendto(data, remote)

        self._send = send
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)

    def _drain(self) -> None:
        assert self._sock is not None
        recv = self._sock.recv
        for _ in range(256):
            try:
                data = recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            if 191 < data[1] < 224:
                continue  # SRTCP (the publisher's sender reports, relayed)
            self.received += 1
            if self.received == 1:  # the first: the receiver's SRTP rollover counter starts here
                self.sample = data

    def release(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def verify_sample(self) -> bool:
        """The first packet decrypts with this subscriber's keys and carries the payload."""
        from sfu import aiortc_hook

        if self.sample is None:
            return False
        try:
            plain: bytes = aiortc_hook.peer_srtp_rx(self.pc).unprotect(self.sample)
        except Exception as exc:
            print(
                "verify failed",
                self.pid,
                exc,
                self.sample[:12].hex(),
                len(self.sample),
                file=sys.stderr,
            )
            return False
        return plain[12:] == BODY

    def _offer(self, sdp: str) -> None:
        task = asyncio.ensure_future(self._answer(sdp))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, sdp: str) -> None:
        from aiortc import RTCSessionDescription

        async with self._negotiating:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.server.call("answer", pid=self.pid, sdp=self.pc.localDescription.sdp)
        self.answered.set()

    def protected_packets(self, count: int) -> list[bytes]:
        """``count`` video packets from this publisher, SRTP-protected ahead of time."""
        from sfu import aiortc_hook, sdp

        desc = sdp.parse(self.pc.localDescription.sdp)
        ssrc = desc.media[0].ssrcs()[0]
        pt = int(desc.media[0].formats[0])
        session = aiortc_hook.peer_srtp_tx(self.pc)
        first, self._next_seq = self._next_seq, self._next_seq + count
        return [
            session.protect(struct.pack("!BBHII", 0x80, pt, i & 0xFFFF, i * 30, ssrc) + BODY)
            for i in range(first, first + count)
        ]

    def send(self, packet: bytes) -> None:
        assert self._send is not None
        self._send(packet)


async def _send_paced(client: Client, packets: list[bytes], seconds: float) -> None:
    """Send evenly over ``seconds`` in 1 ms bursts."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    per_ms = max(1, round(len(packets) / (seconds * 1000)))
    for i in range(0, len(packets), per_ms):
        for packet in packets[i : i + per_ms]:
            client.send(packet)
        delay = start + (i + per_ms) / len(packets) * seconds - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


async def _room(server: Server, fanout: int) -> tuple[Client, list[Client]]:
    publisher = Client(server, "pub")
    await publisher.connect("video", "sendonly", ["camera"])
    subs = [Client(server, f"sub{i}") for i in range(fanout)]
    for sub in subs:
        await sub.connect("audio", "recvonly", [])
    await asyncio.wait_for(asyncio.gather(*(s.answered.wait() for s in subs)), 30)
    await asyncio.sleep(0.5)
    for client in [publisher, *subs]:
        client.take_socket()
    return publisher, subs


async def _attempt(
    server: Server, publisher: Client, subs: list[Client], out_pps: int, seconds: float
) -> dict[str, float]:
    fanout = len(subs)
    packets = publisher.protected_packets(int(out_pps / fanout * seconds))
    base = sum(s.received for s in subs)
    cpu0, irq0 = process_cpu_seconds(server.pid), softirq_seconds(SERVER_CPU)
    await _send_paced(publisher, packets, seconds)
    await asyncio.sleep(0.2)
    cpu = process_cpu_seconds(server.pid) - cpu0
    softirq = softirq_seconds(SERVER_CPU) - irq0
    out = sum(s.received for s in subs) - base
    return {
        "fanout": fanout,
        "offered_out_pps": out_pps,
        "out_pps": out / seconds,
        "server_cpu_s": cpu,
        "server_softirq_s": softirq,
        "pps_out_per_process_core": out / cpu if cpu else 0.0,
        "pps_out_per_core": out / (cpu + softirq) if cpu + softirq else 0.0,
        "delivered_pct": 100.0 * out / (len(packets) * fanout),
    }


async def measure_fanout(fanout: int, seconds: float, loads: list[int]) -> dict[str, Any]:
    """Offered loads in rising order, each on a fresh server, until subscribers (this process)
    no longer read >= 99 %; the figure is the best of the complete runs."""
    complete: list[dict[str, Any]] = []
    for out_pps in loads:
        server = Server()
        await server.start()
        os.sched_setaffinity(server.pid, {SERVER_CPU})
        try:
            publisher, subs = await _room(server, fanout)
            result: dict[str, Any] = await _attempt(server, publisher, subs, out_pps, seconds)
            result["subscribers_verified"] = sum(s.verify_sample() for s in subs)
            stats = await server.call("stats")
            result["server_counters"] = stats["stats"]
            result["srtp_profiles"] = stats["srtp_profiles"]
            for client in [publisher, *subs]:
                client.release()
                await client.pc.close()
        finally:
            await server.stop()
        if result["delivered_pct"] < 99.0:
            if not complete:
                complete.append(result)  # report the failure rather than nothing
            break
        complete.append(result)
    best = max(complete, key=lambda r: float(r["pps_out_per_core"]))
    best["loads_tried"] = len(complete)
    return best


async def measure_idle(participants: int, seconds: float) -> dict[str, float]:
    """Connected participants exchanging only ICE consent and RTCP: CPU and memory each."""
    server = Server()
    await server.start()
    os.sched_setaffinity(server.pid, {SERVER_CPU})
    try:
        await asyncio.sleep(0.5)
        rss0 = rss_mb(server.pid)
        clients = [Client(server, f"idle{i}") for i in range(participants)]
        for client in clients:
            await client.connect("audio", "recvonly", [])
        await asyncio.sleep(1.0)
        rss1 = rss_mb(server.pid)
        cpu0 = process_cpu_seconds(server.pid)
        await asyncio.sleep(seconds)
        cpu = process_cpu_seconds(server.pid) - cpu0
        for client in clients:
            await client.pc.close()
        return {
            "idle_participant_core_pct": 100.0 * cpu / seconds / participants,
            "rss_mb_per_participant": (rss1 - rss0) / participants,
        }
    finally:
        await server.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {CLIENT_CPU})
    runs = []
    for fanout in [int(f) for f in args.fanouts.split(",")]:
        loads = [int(v) for v in args.loads.split(",")]
        runs.append(await measure_fanout(fanout, args.seconds, loads))
    idle = await measure_idle(args.idle, args.idle_seconds)
    return {
        "pps_out_per_core": {str(r["fanout"]): round(r["pps_out_per_core"]) for r in runs},
        "pps_out_per_process_core": {
            str(r["fanout"]): round(r["pps_out_per_process_core"]) for r in runs
        },
        **{k: round(v, 4) for k, v in idle.items()},
        "runs": runs,
        "payload_bytes": PAYLOAD_BYTES,
        "machine": f"{os.cpu_count()} cores, loopback; server on cpu {SERVER_CPU}, "
        f"load generator on cpu {CLIENT_CPU}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--fanouts", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--loads",
        default="40000,60000,80000,100000,120000,150000",
        help="offered packets out/s, tried in rising order while subscribers read >= 99 %%",
    )
    parser.add_argument("--idle", type=int, default=50, help="idle participants")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import uvloop

    if args.serve:
        uvloop.run(serve())
        return
    started = time.monotonic()
    result = uvloop.run(run(args))
    result["bench_seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(result))
        return
    for r in result["runs"]:
        print(
            f"fan-out {r['fanout']:>3}: {r['pps_out_per_core']:>9,.0f} packets out/s per core"
            f" ({r['pps_out_per_process_core']:,.0f} without softirq) at "
            f"{r['out_pps']:,.0f} out/s, delivered {r['delivered_pct']:.1f} %, "
            f"{r['subscribers_verified']}/{r['fanout']} subscribers decrypted a sample"
        )
    print(f"idle participant: {result['idle_participant_core_pct']:.4f} % of a core")
    print(f"memory per participant: {result['rss_mb_per_participant']:.3f} MB")


if __name__ == "__main__":
    main()
