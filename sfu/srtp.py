"""SRTP sessions called straight through cffi into the libsrtp that pylibsrtp bundles.

pylibsrtp's ``Session`` copies every packet into and out of a fresh buffer and allocates an
``int *`` per call; on the forwarding path that wrapper is a third of the cost. Here each session
works in place on a caller-owned ``bytearray`` (see :class:`PacketBuffer`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pylibsrtp import Policy
from pylibsrtp._binding import ffi, lib

logger = logging.getLogger(__name__)

BUFFER_SIZE = 2048
_OK: int = lib.srtp_err_status_ok


class SrtpError(Exception):
    """libsrtp refused a packet (authentication, replay) or a key."""


@dataclass(frozen=True)
class SrtpProfile:
    """An SRTP protection profile as negotiated by DTLS-SRTP (RFC 5764)."""

    openssl_name: bytes
    libsrtp_profile: int
    key_length: int
    salt_length: int

    def split(self, material: bytes, index: int) -> bytes:
        """Master key + salt number ``index`` (0: client, 1: server) from exported material."""
        key = material[index * self.key_length : (index + 1) * self.key_length]
        salts = material[2 * self.key_length :]
        return key + salts[index * self.salt_length : (index + 1) * self.salt_length]


PROFILES = {
    p.openssl_name: p
    for p in (
        SrtpProfile(b"SRTP_AEAD_AES_256_GCM", Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 32, 12),
        SrtpProfile(b"SRTP_AEAD_AES_128_GCM", Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 16, 12),
        SrtpProfile(b"SRTP_AES128_CM_SHA1_80", Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 16, 14),
    )
}


class PacketBuffer:
    """A reusable packet buffer with its C view and length cell; one per direction."""

    def __init__(self) -> None:
        self.data = bytearray(BUFFER_SIZE)
        self.view = memoryview(self.data)
        self.c_data: Any = ffi.from_buffer(self.data)
        self.c_len: Any = ffi.new("int *")


class SrtpSession:
    """One libsrtp context: either inbound (any SSRC) or outbound (any SSRC)."""

    def __init__(self, profile: SrtpProfile, key: bytes, outbound: bool) -> None:
        policy = Policy(
            key=key,
            ssrc_type=Policy.SSRC_ANY_OUTBOUND if outbound else Policy.SSRC_ANY_INBOUND,
            srtp_profile=profile.libsrtp_profile,
        )
        policy.allow_repeat_tx = True  # NACK answers resend a sequence number
        policy.window_size = 1024
        self._policy = policy  # keeps the key memory alive
        cell = ffi.new("srtp_t *")
        if lib.srtp_create(cell, policy._policy) != _OK:
            raise SrtpError("srtp_create failed")
        self.ctx: Any = cell[0]
        self._closed = False

    def protect(self, buf: PacketBuffer, length: int) -> int:
        """Protect the RTP packet in ``buf[:length]`` in place; return the new length (0: error)."""
        buf.c_len[0] = length
        if lib.srtp_protect(self.ctx, buf.c_data, buf.c_len) != _OK:
            return 0
        return int(buf.c_len[0])

    def protect_rtcp(self, buf: PacketBuffer, length: int) -> int:
        buf.c_len[0] = length
        if lib.srtp_protect_rtcp(self.ctx, buf.c_data, buf.c_len) != _OK:
            return 0
        return int(buf.c_len[0])

    def unprotect(self, buf: PacketBuffer, length: int) -> int:
        """Verify and decrypt ``buf[:length]`` in place; return the plain length (0: dropped)."""
        buf.c_len[0] = length
        if lib.srtp_unprotect(self.ctx, buf.c_data, buf.c_len) != _OK:
            return 0
        return int(buf.c_len[0])

    def unprotect_rtcp(self, buf: PacketBuffer, length: int) -> int:
        buf.c_len[0] = length
        if lib.srtp_unprotect_rtcp(self.ctx, buf.c_data, buf.c_len) != _OK:
            return 0
        return int(buf.c_len[0])

    def close(self) -> None:
        """Free the libsrtp context; idempotent."""
        if not self._closed:
            self._closed = True
            lib.srtp_dealloc(self.ctx)

    def __del__(self) -> None:
        self.close()


@dataclass
class SrtpPair:
    """The inbound and outbound sessions of one DTLS-SRTP transport."""

    rx: SrtpSession
    tx: SrtpSession
    profile: str = ""
    tx_key: bytes = b""  # master key + salt of ``tx`` (an egress process builds its own)

    @classmethod
    def from_material(cls, profile: SrtpProfile, material: bytes, is_server: bool) -> SrtpPair:
        """Sessions from DTLS exported keying material (client key first, RFC 5764 4.2)."""
        local, remote = (1, 0) if is_server else (0, 1)
        tx_key = profile.split(material, local)
        return cls(
            rx=SrtpSession(profile, profile.split(material, remote), outbound=False),
            tx=SrtpSession(profile, tx_key, outbound=True),
            profile=profile.openssl_name.decode(),
            tx_key=tx_key,
        )

    def close(self) -> None:
        self.rx.close()
        self.tx.close()
