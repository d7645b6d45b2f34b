"""Identity: JWT join tokens (HS256, PyJWT) and the grants they carry.

The server owns no user database. A token names the user, their role and organisation, and what
they may do in which room. A link without a token is a guest, allowed only where the room allows.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import jwt

from sfu.api import SOURCES, Source

Role = Literal["admin", "teacher", "student", "parent", "guest"]
ROLES: tuple[Role, ...] = ("admin", "teacher", "student", "parent", "guest")
ISSUER = "urok"


class AuthError(Exception):
    """A token or credential refused; ``code`` is a stable protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Grants:
    """Per-room rights carried by a token."""

    publish: frozenset[Source] = frozenset(SOURCES)
    chat: bool = True
    moderate: bool = False


@dataclass(frozen=True)
class Identity:
    """Who is speaking: from a verified token, or a guest with only a display name."""

    user_id: str
    name: str
    role: Role
    org: str | None = None
    group: str | None = None
    room: str | None = None  # None or "*" means any room
    grants: Grants = field(default_factory=Grants)
    verified: bool = False

    @property
    def guest(self) -> bool:
        return self.role == "guest"

    def allows_room(self, room_id: str) -> bool:
        return self.room in (None, "*", room_id)


def default_grants(role: Role) -> Grants:
    """Rights a role gets when the token does not spell them out."""
    if role in ("admin", "teacher"):
        return Grants(moderate=True)
    if role == "guest":
        return Grants(publish=frozenset(("mic", "camera")), chat=False)
    return Grants()


def mint(
    secret: str,
    *,
    user_id: str,
    name: str,
    role: Role,
    org: str | None = None,
    group: str | None = None,
    room: str | None = None,
    grants: Grants | None = None,
    ttl_s: int = 6 * 3600,
    now: float | None = None,
    scope: str | None = None,
) -> str:
    """Sign a join token (or, with ``scope``, a token good only for that, e.g. "calendar")."""
    if role not in ROLES or role == "guest":
        raise AuthError("invalid_role", f"cannot mint a token for role {role!r}")
    issued = int(now if now is not None else time.time())
    g = grants or default_grants(role)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": user_id,
        "name": name,
        "role": role,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": secrets.token_urlsafe(8),
        "grants": {"publish": sorted(g.publish), "chat": g.chat, "moderate": g.moderate},
    }
    for key, value in (("org", org), ("group", group), ("room", room), ("scope", scope)):
        if value is not None:
            claims[key] = value
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(
    secret: str, token: str, room_id: str | None = None, scope: str | None = None
) -> Identity:
    """Check signature, expiry, issuer, scope and room; raise AuthError with a stable code."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token_expired", "the link has expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError("token_invalid", f"the token is not valid: {exc}") from None
    if claims.get("scope") != scope:
        raise AuthError("token_invalid", "this token is not for this use")
    identity = _identity(claims)
    if room_id is not None and not identity.allows_room(room_id):
        raise AuthError("token_wrong_room", "this token is for another room")
    return identity


def _str(claims: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = claims.get(key, default)
    if value is not None and (not isinstance(value, str) or len(value) > 200):
        raise AuthError("token_invalid", f"claim {key!r} must be a short string")
    return value


def _identity(claims: dict[str, Any]) -> Identity:
    role = claims.get("role")
    if role not in ROLES or role == "guest":
        raise AuthError("token_invalid", "unknown role in token")
    role = cast(Role, role)
    name = _str(claims, "name") or ""
    if not name.strip():
        raise AuthError("token_invalid", "token has no name")
    return Identity(
        user_id=cast(str, _str(claims, "sub")),
        name=name.strip(),
        role=role,
        org=_str(claims, "org"),
        group=_str(claims, "group"),
        room=_str(claims, "room"),
        grants=_grants(claims.get("grants"), role),
        verified=role in ("teacher", "admin"),
    )


def _grants(raw: object, role: Role) -> Grants:
    if raw is None:
        return default_grants(role)
    if not isinstance(raw, dict):
        raise AuthError("token_invalid", "grants must be an object")
    base = default_grants(role)
    publish = raw.get("publish", sorted(base.publish))
    if not isinstance(publish, list) or any(p not in SOURCES for p in publish):
        raise AuthError("token_invalid", "grants.publish must list mic, camera or screen")
    chat, moderate = raw.get("chat", base.chat), raw.get("moderate", base.moderate)
    if not isinstance(chat, bool) or not isinstance(moderate, bool):
        raise AuthError("token_invalid", "grants.chat and grants.moderate must be booleans")
    return Grants(publish=frozenset(cast(list[Source], publish)), chat=chat, moderate=moderate)


def guest(name: str | None) -> Identity:
    """A guest identity from a display name (no chat, mic and camera only)."""
    clean = " ".join((name or "").split())[:80]
    if not clean:
        raise AuthError("name_required", "a guest must give a name")
    return Identity(
        user_id="guest:" + secrets.token_urlsafe(9),
        name=clean,
        role="guest",
        grants=default_grants("guest"),
    )
