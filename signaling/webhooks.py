"""Webhooks for the school platform: signed JSON events, in order per room, retried, never blocking.

Each organisation configures one endpoint (URL + shared secret). A body is signed with
HMAC-SHA256 over ``"{timestamp}.{body}"``; the receiver checks ``X-Urok-Signature``
(``sha256=<hex>``) against ``X-Urok-Timestamp`` and the raw body. Events of one room are delivered
in order by one worker task; a failed delivery is retried with exponential backoff, holding back
the later events of that room only. Emitting never awaits anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import deque
from typing import Any, Literal, cast, get_args

import aiohttp
import msgspec

from signaling.records import new_id
from signaling.state import StateStore

logger = logging.getLogger(__name__)

Event = Literal[
    "room_started",
    "room_ended",
    "participant_joined",
    "participant_left",
    "broadcast_started",
    "broadcast_ended",
    "recording_ready",
]


EVENTS: tuple[str, ...] = get_args(Event)


class WebhookConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where an organisation's events go."""

    url: str
    secret: str


class WebhookEvent(msgspec.Struct, frozen=True):
    """The JSON body of one delivery."""

    id: str
    event: Event
    created_at: float
    org: str | None
    room: str | None
    data: dict[str, Any]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (and the tests): constant-time comparison of the signature."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class Webhooks:
    """Per-room ordered delivery queues with retries."""

    MAX_QUEUED = 10000  # per room; beyond it the oldest event is dropped (and logged)

    def __init__(
        self,
        store: StateStore,
        fallback: WebhookConfig | None = None,
        retry_base_s: float = 1.0,
        retry_max_s: float = 60.0,
        give_up_s: float = 24 * 3600,
    ) -> None:
        self._store = store
        self._fallback = fallback
        self._retry = (retry_base_s, retry_max_s, give_up_s)
        self._queues: dict[str, deque[WebhookEvent]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None
        self.delivered = 0
        self.failed_attempts = 0

    async def config_for(self, org: str | None) -> WebhookConfig | None:
        if org is not None:
            raw = await self._store.get(f"webhook:{org}")
            if raw is not None:
                return msgspec.json.decode(raw, type=WebhookConfig)
        return self._fallback

    async def configure(self, org: str, config: WebhookConfig | None) -> None:
        if config is None:
            await self._store.delete(f"webhook:{org}")
        else:
            await self._store.set(f"webhook:{org}", msgspec.json.encode(config))

    def emit(self, event: str, org: str | None, room: str | None, **data: Any) -> None:
        """Queue an event; returns at once."""
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}")
        item = WebhookEvent(
            id="ev" + new_id(8),
            event=cast(Event, event),
            created_at=time.time(),
            org=org,
            room=room,
            data=data,
        )
        key = f"{org}/{room}"
        queue = self._queues.setdefault(key, deque())
        if len(queue) >= self.MAX_QUEUED:
            dropped = queue.popleft()
            logger.warning("webhook queue full for %s: dropped %s", key, dropped.event)
        queue.append(item)
        worker = self._workers.get(key)
        if worker is None or worker.done():
            self._workers[key] = asyncio.get_running_loop().create_task(self._drain(key))

    async def _drain(self, key: str) -> None:
        queue = self._queues[key]
        while queue:
            await self._deliver(queue[0])
            queue.popleft()
        self._queues.pop(key, None)
        self._workers.pop(key, None)

    async def _deliver(self, item: WebhookEvent) -> None:
        base, cap, give_up = self._retry
        delay = base
        body = msgspec.json.encode(item)
        while True:
            config = await self.config_for(item.org)
            if config is None:
                return
            if await self._post(config, body):
                self.delivered += 1
                return
            self.failed_attempts += 1
            if time.time() - item.created_at > give_up:
                logger.error("webhook %s to %s given up", item.event, config.url)
                return
            await asyncio.sleep(delay)
            delay = min(cap, delay * 2)

    async def _post(self, config: WebhookConfig, body: bytes) -> bool:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Urok-Timestamp": stamp,
            "X-Urok-Signature": sign(config.secret, stamp, body),
        }
        try:
            async with self._http.post(config.url, data=body, headers=headers) as resp:
                return 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.info("webhook delivery to %s failed: %s", config.url, exc)
            return False

    async def close(self) -> None:
        for task in list(self._workers.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()
