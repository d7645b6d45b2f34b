"""ICE-lite on one UDP port: every participant shares the socket(s); STUN binding requests are
demultiplexed by ufrag, everything else by the source address the ICE check selected.

One socket per announced address (so replies leave from the address the client talks to). The
read callback drains the socket in a loop, which keeps the event loop's per-packet cost low.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections import Counter
from typing import Protocol

from sfu import stun
from sfu.srtp import BUFFER_SIZE, PacketBuffer

logger = logging.getLogger(__name__)

Address = tuple[str, int]
_DRAIN = 64
_SOCKET_BUFFER = 4 * 1024 * 1024


class IceEndpoint(Protocol):
    """A participant's transport as the mux sees it."""

    local_pwd: bytes

    def on_binding(self, sock: socket.socket, addr: Address, ufrag: str, nominated: bool) -> None:
        """A valid binding request arrived from ``addr``."""

    def on_datagram(self, buf: PacketBuffer, length: int) -> None:
        """DTLS or SRTP from the selected address, in ``buf[:length]``."""


class IceLiteMux:
    """The SFU's UDP sockets: ICE-lite responder and the first hop of the packet path."""

    def __init__(self, addresses: tuple[str, ...], port_min: int = 0, port_max: int = 0) -> None:
        self.addresses = addresses or (_default_address(),)
        self._port_range = (port_min, port_max)
        self.port = 0
        self.sockets: list[socket.socket] = []
        self._by_ufrag: dict[str, IceEndpoint] = {}
        self._by_addr: dict[Address, IceEndpoint] = {}
        self.counters: Counter[str] = Counter()
        self._rx = PacketBuffer()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Bind one socket per announced address on one port from the range; idempotent."""
        if self.sockets:
            return
        self._loop = asyncio.get_running_loop()
        self.port, self.sockets = _bind_all(self.addresses, *self._port_range)
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._readable, sock)
        logger.info("ICE-lite on %s port %d", ",".join(self.addresses), self.port)

    def candidates(self) -> list[str]:
        """a=candidate values for the announced addresses (host, UDP)."""
        return [
            f"{i + 1} 1 udp {2130706431 - i} {host} {self.port} typ host"
            for i, host in enumerate(self.addresses)
        ]

    def register(self, ufrag: str, endpoint: IceEndpoint) -> None:
        self._by_ufrag[ufrag] = endpoint

    def unregister(self, endpoint: IceEndpoint) -> None:
        """Forget every ufrag and address of this endpoint."""
        for table in (self._by_ufrag, self._by_addr):
            for key in [k for k, v in table.items() if v is endpoint]:
                del table[key]  # type: ignore[arg-type]

    def bind_address(self, addr: Address, endpoint: IceEndpoint) -> None:
        self._by_addr[addr] = endpoint

    def unbind_address(self, addr: Address) -> None:
        self._by_addr.pop(addr, None)

    def _readable(self, sock: socket.socket) -> None:
        rx = self._rx
        by_addr = self._by_addr
        for _ in range(_DRAIN):
            try:
                length, addr = sock.recvfrom_into(rx.data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP errors surface here on Linux
                self.counters["socket_error"] += 1
                logger.debug("recv error %s", exc)
                continue
            if length >= BUFFER_SIZE or not length:
                self.counters["oversize_or_empty"] += 1  # recvfrom_into truncated it
                continue
            endpoint = by_addr.get(addr)
            first = rx.data[0]
            if first < 4:
                self._stun(sock, bytes(rx.view[:length]), addr)
            elif endpoint is not None:
                endpoint.on_datagram(rx, length)
            else:
                self.counters["unknown_source"] += 1

    def _stun(self, sock: socket.socket, data: bytes, addr: Address) -> None:
        msg = stun.parse(data)
        if msg is None:
            self.counters["bad_stun"] += 1
            return
        if msg.msg_type != stun.BINDING_REQUEST:
            self.counters["stun_ignored"] += 1
            return
        local_ufrag = (msg.username or "").split(":")[0]
        endpoint = self._by_ufrag.get(local_ufrag)
        if endpoint is None or not stun.check_integrity(msg, endpoint.local_pwd):
            self.counters["stun_unauthorized"] += 1
            return
        reply = stun.binding_success(msg.transaction_id, addr, endpoint.local_pwd)
        self.send(sock, reply, addr)
        nominated = msg.get(stun.ATTR_USE_CANDIDATE) is not None
        endpoint.on_binding(sock, addr, local_ufrag, nominated)

    def send(self, sock: socket.socket, data: bytes, addr: Address) -> None:
        try:
            sock.sendto(data, addr)
        except OSError:
            self.counters["send_error"] += 1

    def close(self) -> None:
        """Close the sockets; idempotent."""
        for sock in self.sockets:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets = []
        self._by_ufrag.clear()
        self._by_addr.clear()


def _default_address() -> str:
    """The address of the default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _bind_all(
    addresses: tuple[str, ...], port_min: int, port_max: int
) -> tuple[int, list[socket.socket]]:
    ports = range(port_min, port_max + 1) if port_min and port_max else [0]
    for port in ports:
        socks: list[socket.socket] = []
        try:
            for host in addresses:
                socks.append(_bind_one(host, port or (socks[0].getsockname()[1] if socks else 0)))
            return socks[0].getsockname()[1], socks
        except OSError as exc:
            for sock in socks:
                sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no free UDP port in {port_min}-{port_max}")


def _bind_one(host: str, port: int) -> socket.socket:
    """Bind to ``host`` if it is local, else to the wildcard (a public address behind 1:1 NAT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
    sock.setblocking(False)
    try:
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno != errno.EADDRNOTAVAIL:
            sock.close()
            raise
        sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    return sock
