"""Prometheus metrics, in a registry owned by the app (no module-level globals)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """Counters and gauges the server exports at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = Counter(
            "urok_messages_in", "Client messages received", ["type"], registry=r
        )
        self.messages_out = Counter("urok_messages_out", "Server messages sent", registry=r)
        self.errors = Counter("urok_errors", "Errors answered to clients", ["code"], registry=r)
        self.joins = Counter("urok_joins", "Participants admitted to a room", registry=r)
        self.dropped = Counter("urok_dropped_clients", "Clients dropped", ["reason"], registry=r)
        self.chat = Counter("urok_chat_messages", "Chat messages posted", registry=r)
        self.recording_problems = Counter(
            "urok_recording_problems",
            "Recordings that failed (disk full, ...)",
            ["code"],
            registry=r,
        )
        self._gauges: dict[str, Gauge] = {}

    def gauge(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time (rooms, participants, ...)."""
        gauge = Gauge(name, doc, registry=self.registry)
        gauge.set_function(read)
        self._gauges[name] = gauge

    def render(self) -> bytes:
        return generate_latest(self.registry)
