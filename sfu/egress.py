"""A second process for the SFU's sending, so one big room uses two cores.

One room lives in one process, and one process is one core: a lesson of 300 forwards ~300,000
packets a second, about 1.8 cores here (docs/benchmarks.md, load test). Almost all of that is
the per-copy work — header rewrite, SRTP protect, ``sendto`` — and the kernel's share of it.
With ``SFU(egress=True)`` a child process takes that work for a share of the subscribers
(``egress_share``, 0.55: the main process also receives, and runs everything else):

- The main process keeps everything else: ICE, DTLS, receiving and decrypting, NACK, RTCP,
  last-N, layers. When a subscriber's DTLS is up, the child gets its outbound SRTP key (``K``);
  from then on every RTP packet for that subscriber is protected by the child — the single
  ones too (NACK answers, RTX, extension rewrites: ``R``) — so each SSRC has one SRTP context.
  RTCP has its own index and stays in the main process.
- Whenever a track's subscribers change, the child gets what changed in that track's egress
  targets (``T``: added or changed — payload type, seq / timestamp / picture-id offsets, SSRC,
  socket, address — and removed), never the whole list again.
- Every packet of a track with egress targets goes to the child once (``P``), over a Unix
  datagram socket: one send for up to 300 copies.
- The child sends from the same UDP sockets (inherited), so subscribers see one server address.

The child is the same short loop as :meth:`sfu.forwarder.Track._fan_out` in a blocking
``recv``; it exits when the main process closes its end. If it dies, the main process sends
to everyone itself again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from sfu.srtp import BUFFER_SIZE, PROFILES, PacketBuffer, SrtpSession

logger = logging.getLogger(__name__)

# (subscriber, pt, seq offset, ts offset, SSRC, socket index, address, pid offset, tl0 offset)
EgressTarget = tuple[int, int, int, int, int, int, Any, int, int]
_PACKET = struct.Struct("!cIB")  # b"P", track key, VP8 munging flag
SOCKET_BUFFER = 8 * 1024 * 1024


class EgressLink:
    """The main process's end: starts the child, tells it keys and targets, hands it packets."""

    def __init__(self, sockets: Sequence[socket.socket], share: float = 0.55) -> None:
        self.sockets = list(sockets)
        self.share = share  # of the subscribers, the part whose copies the child sends
        self._ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock in (self._ours, theirs):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        fds = [theirs.fileno(), *(s.fileno() for s in self.sockets)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sfu.egress", *map(str, fds)], pass_fds=fds, close_fds=True
        )
        theirs.close()
        self._ours.setblocking(False)
        self.assigned = 0  # transports given to the child
        self.local = 0  # transports kept here
        self.dropped = 0  # packets the socket pair could not take
        self.alive = True
        self._next_key = 1

    def new_key(self) -> int:
        key = self._next_key
        self._next_key += 1
        return key

    def take(self) -> bool:
        """Whether the next subscriber's sending goes to the child (``share`` of them)."""
        if not self.alive:
            return False
        if self.assigned < self.share * (self.assigned + self.local + 1):
            self.assigned += 1
            return True
        self.local += 1
        return False

    def _control(self, message: tuple[Any, ...]) -> None:
        """Keys and targets must arrive: wait (up to a second) for room in the socket."""
        data = b"C" + pickle.dumps(message)
        for _ in range(100):
            if not self.alive:
                return
            try:
                self._ours.send(data)
                return
            except BlockingIOError:
                select.select([], [self._ours], [], 0.01)
            except OSError:
                break
        self._died()

    def _send(self, data: bytes) -> None:
        if not self.alive:
            return
        try:
            self._ours.send(data)
        except BlockingIOError:
            self.dropped += 1
        except OSError:
            self._died()

    def _died(self) -> None:
        if self.alive:
            logger.error("SFU egress process is gone: sending from the main process")
            self.alive = False

    def check(self) -> bool:
        """Once a second: False (and from now on) if the child has exited."""
        if self.alive and self.proc.poll() is not None:
            self._died()
        return self.alive

    def add_session(self, subscriber: int, profile: str, key: bytes) -> None:
        self._control(("K", subscriber, profile, key))

    def drop_session(self, subscriber: int) -> None:
        self._control(("X", subscriber))

    def update_targets(
        self, track: int, changed: list[EgressTarget], gone: list[tuple[int, int]]
    ) -> None:
        """Targets of a track added or changed, and removed (by subscriber and SSRC)."""
        self._control(("T", track, changed, gone))

    def packet(self, track: int, munge_vp8: bool, data: bytes) -> None:
        self._send(_PACKET.pack(b"P", track, munge_vp8) + data)

    def send_one(self, subscriber: int, sock_index: int, addr: Any, packet: bytes) -> None:
        """One ready RTP packet for one subscriber (a NACK answer, an extension rewrite)."""
        self._control(("R", subscriber, sock_index, addr, packet))

    def socket_index(self, sock: socket.socket) -> int:
        return self.sockets.index(sock)

    def close(self) -> None:
        """Stop the child; idempotent."""
        if self.alive:
            with contextlib.suppress(OSError):
                select.select([], [self._ours], [], 1.0)
                self._ours.send(b"Q")
        self.alive = False
        with contextlib.suppress(OSError):
            self._ours.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- the child --------------------------------------------------------------------------------


class _Child:
    def __init__(self, ctl: socket.socket, sockets: list[socket.socket]) -> None:
        self.ctl = ctl
        self.sockets = sockets
        self.sessions: dict[int, SrtpSession] = {}
        self.targets: dict[int, list[tuple[Any, ...]]] = {}
        self.raw: dict[int, dict[tuple[int, int], EgressTarget]] = {}
        self.tracks_of: dict[int, set[int]] = {}  # subscriber -> tracks with a target for it
        self.tx = PacketBuffer()
        self.errors = 0

    def control(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "K":
            _, subscriber, profile, key = message
            old = self.sessions.pop(subscriber, None)
            if old is not None:
                old.close()
            self.sessions[subscriber] = SrtpSession(PROFILES[profile.encode()], key, outbound=True)
            self._resolve_of(subscriber)
        elif kind == "X":
            session = self.sessions.pop(message[1], None)
            if session is not None:
                session.close()
            self._resolve_of(message[1])
        elif kind == "R":
            _, subscriber, sock_index, addr, packet = message
            session = self.sessions.get(subscriber)
            if session is not None and sock_index < len(self.sockets) and len(packet) < 1400:
                self.tx.data[: len(packet)] = packet
                size = session.protect(self.tx, len(packet))
                if size:
                    with contextlib.suppress(OSError):
                        self.sockets[sock_index].sendto(self.tx.view[:size], addr)
        elif kind == "T":
            _, track, changed, gone = message
            raw = self.raw.setdefault(track, {})
            for key in gone:
                raw.pop(tuple(key), None)
            for target in changed:
                raw[(target[0], target[4])] = target
                self.tracks_of.setdefault(target[0], set()).add(track)
            if not raw:
                del self.raw[track]
            self._resolve(track)

    def _resolve_of(self, subscriber: int) -> None:
        """Again, the tracks that have (or had) a target for this subscriber."""
        tracks = self.tracks_of.get(subscriber, set())
        for track in list(tracks):
            if track in self.raw:
                self._resolve(track)
            else:
                tracks.discard(track)

    def _resolve(self, track: int) -> None:
        """Targets with this process's SRTP context and socket (the hot path's tuples)."""
        resolved = []
        raw = self.raw.get(track, {})
        for sub, pt, seq_off, ts_off, ssrc, sock_index, addr, pid_off, tl0_off in raw.values():
            session = self.sessions.get(sub)
            if session is not None and sock_index < len(self.sockets):
                sock = self.sockets[sock_index]
                resolved.append(
                    (pt, seq_off, ts_off, ssrc, session.ctx, sock, addr, pid_off, tl0_off)
                )
        if resolved:
            self.targets[track] = resolved
        else:
            self.targets.pop(track, None)

    def run(self) -> None:
        from sfu.forwarder import fan_out, fan_out_vp8

        buf = bytearray(BUFFER_SIZE + 64)
        view = memoryview(buf)
        head = _PACKET.size
        parent = os.getppid()
        self.ctl.settimeout(1.0)
        while True:
            try:
                n = self.ctl.recv_into(buf)
            except TimeoutError:
                if os.getppid() != parent:
                    return  # the main process is gone
                continue
            except InterruptedError:
                continue
            except OSError:
                return
            if buf[0] == 0x50:  # b"P"
                _, track, munge = _PACKET.unpack_from(buf)
                targets = self.targets.get(track)
                if targets:
                    data = bytes(view[head:n])
                    seq = (data[2] << 8) | data[3]
                    send = fan_out_vp8 if munge else fan_out
                    self.errors += send(targets, data, seq, self.tx)
            elif buf[0] == 0x43:  # b"C"
                self.control(pickle.loads(view[1:n]))
            elif buf[0] == 0x51:  # b"Q": the main process stops
                return


def main(argv: list[str]) -> None:
    fds = [int(a) for a in argv]
    ctl = socket.socket(fileno=fds[0])
    sockets = [socket.socket(fileno=fd) for fd in fds[1:]]
    for sock in sockets:
        sock.setblocking(False)  # a full send buffer drops a copy, it never stalls the rest
    with contextlib.suppress(KeyboardInterrupt):
        _Child(ctl, sockets).run()
    os._exit(0)  # the inherited UDP sockets belong to the main process: do not close them


if __name__ == "__main__":
    main(sys.argv[1:])
