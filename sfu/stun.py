"""The slice of STUN (RFC 5389 / 8489) an ICE-lite server needs: verify a binding request,
build the success response. Every parse function returns None on malformed input, never raises.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import struct
import zlib
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MAGIC = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_INDICATION = 0x0011
ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_PRIORITY = 0x0024
ATTR_USE_CANDIDATE = 0x0025
ATTR_FINGERPRINT = 0x8028
ATTR_ICE_CONTROLLED = 0x8029
ATTR_ICE_CONTROLLING = 0x802A
_FINGERPRINT_XOR = 0x5354554E
_HEADER = struct.Struct("!HHI12s")


@dataclass(frozen=True)
class StunMessage:
    """A parsed STUN message: type, transaction id and attributes in order (raw values)."""

    msg_type: int
    transaction_id: bytes
    attributes: tuple[tuple[int, bytes, int], ...]  # (type, value, offset of the attribute)
    raw: bytes

    def get(self, attr_type: int) -> bytes | None:
        for kind, value, _ in self.attributes:
            if kind == attr_type:
                return value
        return None

    def offset(self, attr_type: int) -> int | None:
        for kind, _, offset in self.attributes:
            if kind == attr_type:
                return offset
        return None

    @property
    def username(self) -> str | None:
        value = self.get(ATTR_USERNAME)
        if value is None:
            return None
        try:
            return value.decode()
        except UnicodeDecodeError:
            return None


def is_stun(data: bytes) -> bool:
    """RFC 7983 demultiplexing: first byte 0..3 and the magic cookie."""
    return len(data) >= 20 and data[0] < 4 and data[4:8] == b"\x21\x12\xa4\x42"


def parse(data: bytes) -> StunMessage | None:
    """Parse a STUN message, or None if it is not a well-formed one."""
    if not is_stun(data):
        return None
    msg_type, length, _, txid = _HEADER.unpack_from(data)
    if length % 4 or 20 + length != len(data):
        return None
    attrs: list[tuple[int, bytes, int]] = []
    pos = 20
    while pos + 4 <= len(data):
        kind, size = struct.unpack_from("!HH", data, pos)
        end = pos + 4 + size
        if end > len(data):
            return None
        attrs.append((kind, bytes(data[pos + 4 : end]), pos))
        pos = end + (-size % 4)
    if pos != len(data):
        return None
    return StunMessage(msg_type, txid, tuple(attrs), bytes(data))


def _with_length(raw: bytes, upto: int, extra: int) -> bytes:
    """The message up to ``upto`` with the header length field covering ``upto + extra``."""
    return raw[:2] + struct.pack("!H", upto - 20 + extra) + raw[4:upto]


def check_integrity(msg: StunMessage, key: bytes) -> bool:
    """MESSAGE-INTEGRITY (HMAC-SHA1, short-term credential) and FINGERPRINT if present."""
    mi_at = msg.offset(ATTR_MESSAGE_INTEGRITY)
    mi = msg.get(ATTR_MESSAGE_INTEGRITY)
    if mi_at is None or mi is None or len(mi) != 20:
        return False
    expected = hmac.new(key, _with_length(msg.raw, mi_at, 24), hashlib.sha1).digest()
    if not hmac.compare_digest(expected, mi):
        return False
    fp_at = msg.offset(ATTR_FINGERPRINT)
    if fp_at is None:
        return True
    fp = msg.get(ATTR_FINGERPRINT)
    return fp is not None and fp == _fingerprint(_with_length(msg.raw, fp_at, 8))


def _fingerprint(data: bytes) -> bytes:
    return struct.pack("!I", zlib.crc32(data) ^ _FINGERPRINT_XOR)


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\x00" * (-len(value) % 4)


def _xor_address(host: str, port: int, txid: bytes) -> bytes:
    ip = ipaddress.ip_address(host)
    xport = port ^ (MAGIC >> 16)
    if ip.version == 4:
        xaddr = int(ip) ^ MAGIC
        return struct.pack("!BBHI", 0, 1, xport, xaddr)
    mask = int.from_bytes(struct.pack("!I", MAGIC) + txid, "big")
    return struct.pack("!BBH", 0, 2, xport) + (int(ip) ^ mask).to_bytes(16, "big")


def binding_success(txid: bytes, addr: tuple[str, int], key: bytes) -> bytes:
    """A Binding Success response with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT."""
    body = _attr(ATTR_XOR_MAPPED_ADDRESS, _xor_address(addr[0], addr[1], txid))
    head = struct.pack("!HHI12s", BINDING_SUCCESS, len(body) + 24, MAGIC, txid)
    mi = hmac.new(key, head + body, hashlib.sha1).digest()
    body += _attr(ATTR_MESSAGE_INTEGRITY, mi)
    head = struct.pack("!HHI12s", BINDING_SUCCESS, len(body) + 8, MAGIC, txid)
    return head + body + _attr(ATTR_FINGERPRINT, _fingerprint(head + body))


def binding_request(txid: bytes, username: str, key: bytes, extra: bytes = b"") -> bytes:
    """A Binding Request with USERNAME, MESSAGE-INTEGRITY and FINGERPRINT (for tests)."""
    body = _attr(ATTR_USERNAME, username.encode()) + extra
    head = struct.pack("!HHI12s", BINDING_REQUEST, len(body) + 24, MAGIC, txid)
    body += _attr(ATTR_MESSAGE_INTEGRITY, hmac.new(key, head + body, hashlib.sha1).digest())
    head = struct.pack("!HHI12s", BINDING_REQUEST, len(body) + 8, MAGIC, txid)
    return head + body + _attr(ATTR_FINGERPRINT, _fingerprint(head + body))
