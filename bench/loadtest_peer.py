"""One synthetic participant of `urok loadtest` (bench/loadtest.py).

It joins like a browser: the signaling WebSocket (join with a token, set_media, media_offer /
media_answer, the SFU's own offers answered, view), an aiortc RTCPeerConnection for ICE and
DTLS. Once DTLS is up it takes the connection's UDP socket (sfu.aiortc_hook.peer_take_socket)
and from then on sends pre-protected packets (bench.loadtest_media) and reads raw datagrams:
nothing is decrypted on the receive path, which counts packets per SSRC, finds losses from
sequence-number gaps and reads the abs-send-time extension in the clear. ICE consent checks
(RFC 7675) are sent by hand, since aioice no longer owns the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from bench import loadtest_media as media
from bench.loadtest_wire import answer_for, find_abs_send_time, munge_offer, server_messages
from sfu import sdp as sdp_format
from signaling import messages as m

REQUEST_TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 20.0
CLOSE_TIMEOUT_S = 3.0
TILE_SIZE = (160, 90)  # a thumbnail: the SFU picks the lowest simulcast layer for it
LATENCY_EVERY = 8  # read abs-send-time on one received packet in this many
RCVBUF_BYTES = 1 << 20
_SEQ_SSRC = struct.Struct("!H4xI")
_TS = struct.Struct("!I")
_TIMESPEC = struct.Struct("@qq")
SO_TIMESTAMPNS = 35  # Linux: each datagram's kernel arrival time (struct timespec, realtime)


class JoinError(Exception):
    """A participant could not join (refused, timed out, ICE/DTLS failed)."""


@dataclass(frozen=True)
class Plan:
    """Who a synthetic participant is and what it sends."""

    index: int
    user_id: str
    name: str
    role: Literal["teacher", "student"]  # the host is a teacher
    mic: bool = False
    camera: bool = False
    screen: bool = False
    loud: bool = False  # a speaker: loud audio levels (else silence-level audio)

    def sources(self) -> list[m.Source]:
        chosen: list[tuple[bool, m.Source]] = [
            (self.mic, "mic"),
            (self.camera, "camera"),
            (self.screen, "screen"),
        ]
        return [source for on, source in chosen if on]


@dataclass
class InStream:
    """What one received SSRC delivered: first and highest extended sequence number, count."""

    first: int
    highest: int
    count: int = 1


@dataclass
class Window:
    """Per-SSRC counters at the start of the measurement window."""

    at: dict[int, tuple[int, int]] = field(default_factory=dict)  # ssrc -> (highest, count)


class Peer:
    """One participant: signaling, an aiortc connection for ICE + DTLS, then a raw socket."""

    def __init__(
        self,
        plan: Plan,
        http: aiohttp.ClientSession,
        ws_url: str,
        room: str,
        token: str,
        simulcast: bool,
        sender: media.Sender,
    ) -> None:
        self.plan = plan
        self.http = http
        self.ws_url = ws_url
        self.room = room
        self.token = token
        self.simulcast = simulcast
        self.sender = sender
        self.pid = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pc: Any = None
        self.sock: socket.socket | None = None
        self.remote: Any = None
        self.rx: Any = None  # pylibsrtp sessions, kept from the moment the socket is taken
        self.tx: Any = None
        self.opened_at = 0.0
        self.connected_at: float | None = None
        self.first_media_at: float | None = None
        self.streams_in: dict[int, InStream] = {}
        self.samples: dict[int, bytes] = {}  # the first packet of every SSRC, still encrypted
        self.kinds: dict[int, str] = {}  # received SSRC -> audio / video / rtx, from the SDP
        self.clocks: dict[int, int] = {}  # payload type -> clock rate, from the SDP
        self.abs_id = 0
        self.latency: list[float] | None = None  # set to a list while measuring
        self.transit: dict[int, list[float]] = {}  # fallback without abs-send-time
        self.received = 0
        self.out: list[media.OutStream] = []
        self.by_ssrc: dict[int, media.OutStream] = {}
        self.keyframe_requests = 0
        self.offers_pending = 0
        self.unreadable = 0  # server messages of a type this tool does not know
        self.offers_answered = 0
        self.offer_errors: list[str] = []
        self.tracks: tuple[m.TrackView, ...] = ()
        self.publish_layers: dict[str, tuple[str, ...]] = {}
        self._own_offer = ""
        self._ice: tuple[str, str, str] | None = None  # server ufrag, server pwd, our ufrag
        self._ids = 0
        self._pending: dict[int, asyncio.Future[m.ServerMessage]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._connected = asyncio.Event()
        self._buf = bytearray(2048)
        self._reads = 0
        self._clock_offset = time.time() - time.monotonic()
        self.kernel_stamps = False
        self.closed = False

    # ---- signaling --------------------------------------------------------------------------

    async def join(self) -> None:
        """WebSocket open → welcome → sources on → offer/answer → ICE + DTLS → raw socket."""
        self.opened_at = time.monotonic()
        self.ws = await asyncio.wait_for(
            self.http.ws_connect(self.ws_url, max_msg_size=0), REQUEST_TIMEOUT_S
        )
        self._spawn(self._read())
        join = m.Join(id=self._next_id(), room=self.room, version=1, token=self.token)
        welcome = await self._request(join)
        if not isinstance(welcome, m.Welcome):
            raise JoinError(f"join answered {type(welcome).__name__}")
        self.pid = welcome.you.id
        for source in self.plan.sources():
            await self._request(m.SetMedia(id=self._next_id(), source=source, enabled=True))
        await self._negotiate()
        await asyncio.wait_for(self._connected.wait(), CONNECT_TIMEOUT_S)
        self.connected_at = time.monotonic()
        self._take_socket()

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    async def _request(self, msg: m.ClientMessage) -> m.ServerMessage:
        assert self.ws is not None
        future: asyncio.Future[m.ServerMessage] = asyncio.get_running_loop().create_future()
        self._pending[int(msg.id)] = future
        await self.ws.send_bytes(m.encode_client(msg))
        reply = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        if isinstance(reply, m.Error):
            raise JoinError(f"{type(msg).__name__}: {reply.code} {reply.message}")
        return reply

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            messages, unreadable = server_messages(frame.data)
            self.unreadable += unreadable
            for msg in messages:
                self._on_message(msg)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(JoinError("the server closed the WebSocket"))

    def _on_message(self, msg: m.ServerMessage) -> None:
        req_id = getattr(msg, "id", None)
        if isinstance(req_id, int) and req_id in self._pending:
            self._pending.pop(req_id).set_result(msg)
        elif isinstance(msg, m.MediaOfferOut):
            self.offers_pending += 1
            self._spawn(self._answer_offer(msg.sdp))
        elif isinstance(msg, m.Tracks):
            self.tracks = msg.tracks
        elif isinstance(msg, m.PublishLayersOut):
            self._set_layers(msg.source, msg.active)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def set_view(self, tiles: list[tuple[str, m.Source]]) -> None:
        """Report the tiles this participant shows, all thumbnails."""
        width, height = TILE_SIZE
        shown = tuple(m.Tile(participant=p, source=s, width=width, height=height) for p, s in tiles)
        await self._request(m.View(id=self._next_id(), tiles=shown))

    async def end_room(self) -> None:
        with contextlib.suppress(Exception):
            await self._request(m.EndRoom(id=self._next_id()))

    # ---- negotiation ------------------------------------------------------------------------

    async def _negotiate(self) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        from sfu import aiortc_hook

        # host candidates only: aiortc's default STUN server (stun.l.google.com) costs a DNS
        # lookup per connection, and a resolver timeout stalled some joins by exactly 5 s
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("connectionstatechange", self._state_changed)
        sources = self.plan.sources()
        for source in sources:
            pc.addTransceiver("audio" if source == "mic" else "video", direction="sendonly")
        if not sources:
            pc.addTransceiver("audio", direction="recvonly")  # a first offer needs a section
        with aiortc_hook.loopback_candidates():
            await pc.setLocalDescription(await pc.createOffer())
        local = pc.localDescription.sdp
        mids = [str(t.mid) for t in pc.getTransceivers()]
        by_source = dict(zip(mids, sources, strict=False)) if sources else {}
        camera = next((mid for mid, s in by_source.items() if s == "camera"), None)
        audio = [mid for mid, s in by_source.items() if s == "mic"]
        offer = munge_offer(local, camera if self.simulcast else None, audio)
        self._own_offer = offer
        msg = m.MediaOffer(id=self._next_id(), sdp=offer, sources=by_source or None)
        reply = await self._request(msg)
        if not isinstance(reply, m.MediaAnswerOut):
            raise JoinError(f"media_offer answered {type(reply).__name__}")
        await pc.setRemoteDescription(RTCSessionDescription(reply.sdp, "answer"))
        self._answer = sdp_format.parse(reply.sdp)
        self._local = sdp_format.parse(local)
        self._by_source = by_source
        first = next(x for x in self._answer.media if x.port)
        ufrag = self._answer.media_or_session(first, "ice-ufrag") or ""
        pwd = self._answer.media_or_session(first, "ice-pwd") or ""
        ours = self._local.media_or_session(self._local.media[0], "ice-ufrag") or ""
        self._ice = (ufrag, pwd, ours)

    def _state_changed(self) -> None:
        if self.pc is not None and self.pc.connectionState == "connected":
            self._connected.set()

    async def _answer_offer(self, offer: str) -> None:
        try:
            answer = answer_for(offer, self._own_offer, self.offers_answered + 2)
            await self._request(m.MediaAnswer(id=self._next_id(), sdp=answer))
            self._learn(sdp_format.parse(offer))
            self.offers_answered += 1
        except Exception as exc:  # counted and reported; the run goes on
            self.offer_errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.offers_pending -= 1

    def _learn(self, desc: sdp_format.SessionDescription) -> None:
        """What the SFU sends where: SSRC → kind, payload type → clock, abs-send-time id."""
        for section in desc.media:
            repair = {g[1][1] for g in section.ssrc_groups() if g[0] == "FID" and len(g[1]) > 1}
            for ssrc in section.ssrcs():
                self.kinds[ssrc] = "rtx" if ssrc in repair else section.kind
            for codec in section.codecs():
                self.clocks[codec.pt] = codec.clock_rate
            self.abs_id = section.extmaps().get(media.ABS_SEND_TIME_URI, self.abs_id)

    # ---- the raw socket ---------------------------------------------------------------------

    def _take_socket(self) -> None:
        from sfu import aiortc_hook

        self.rx = aiortc_hook.peer_srtp_rx(self.pc)
        self.tx = aiortc_hook.peer_srtp_tx(self.pc)
        self.sock, self.remote = aiortc_hook.peer_take_socket(self.pc)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.kernel_stamps = True
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._drain)
        self._start_streams()

    def _send(self, data: bytes) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.sendto(data, self.remote)

    def _start_streams(self) -> None:
        start = time.monotonic() + random.random() * 0.05  # publishers do not send in step
        for section in self._answer.media:
            source = self._by_source.get(section.mid or "")
            if source is None or section.direction not in ("recvonly", "sendrecv"):
                continue
            exts = section.extmaps()
            ids = media.Extensions(
                mid=exts.get(media.MID_URI, 0),
                rid=exts.get(media.RID_URI, 0),
                level=exts.get(media.LEVEL_URI, 0),
                abs_send_time=exts.get(media.ABS_SEND_TIME_URI, 0),
            )
            pt = int(section.formats[0])
            self._add_streams(source, section.mid or "", pt, ids, start, bool(section.rids()))

    def _add_streams(
        self, source: str, mid: str, pt: int, ids: media.Extensions, start: float, rids: bool
    ) -> None:
        local = next(x for x in self._local.media if x.mid == mid)
        ssrcs = local.ssrcs()
        if source == "camera" and self.simulcast and rids:
            for layer in media.SIMULCAST:
                ssrc = random.randrange(1, 1 << 32)
                self._stream(layer, ssrc, pt, mid, layer.name, ids, start, source)
            return
        layer = {"mic": media.AUDIO, "camera": media.SINGLE, "screen": media.SCREEN}[source]
        ssrc = ssrcs[0] if ssrcs else random.randrange(1, 1 << 32)
        self._stream(layer, ssrc, pt, mid, None, ids, start, source)

    def _stream(
        self,
        layer: media.Layer,
        ssrc: int,
        pt: int,
        mid: str,
        rid: str | None,
        ids: media.Extensions,
        start: float,
        source: str,
    ) -> None:
        stream = media.OutStream(
            layer, ssrc, pt, mid, rid, ids, self.tx.protect, self._send, start, self.plan.loud
        )
        stream.source = source
        self.out.append(stream)
        self.by_ssrc[ssrc] = stream
        self.sender.add(stream)

    def _set_layers(self, source: str, active: tuple[str, ...]) -> None:
        """Dynacast: pause the layers nobody receives, as a browser's encodings[i].active."""
        self.publish_layers[source] = active
        for stream in self.out:
            if stream.source == source and stream.layer in media.SIMULCAST:
                paused = stream.layer.name not in active
                if stream.paused and not paused:  # resumes with a key frame
                    stream.key_wanted = True
                    stream.ready = []
                stream.paused = paused

    def _drain(self) -> None:
        """Read what arrived: count RTP per SSRC; RTCP only for key frame requests. Every
        LATENCY_EVERY-th read while measuring also takes the kernel's arrival time."""
        sock, buf = self.sock, self._buf
        if sock is None:
            return
        streams = self.streams_in
        for _ in range(512):
            arrival = 0.0
            try:
                if self.latency is not None and self._reads % LATENCY_EVERY == 0:
                    size, arrival = self._read_stamped(sock)
                else:
                    size = sock.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                return
            self._reads += 1
            if size < 12 or not 127 < buf[0] < 192:
                continue  # STUN answers to our consent checks
            if 191 < buf[1] < 224:
                if self.out:
                    self._rtcp(bytes(buf[:size]))
                continue
            seq, ssrc = _SEQ_SSRC.unpack_from(buf, 2)
            stream = streams.get(ssrc)
            if stream is None:
                streams[ssrc] = InStream(seq, seq)
                self.samples[ssrc] = bytes(buf[:size])
                if self.first_media_at is None:
                    self.first_media_at = time.monotonic()
            else:
                delta = (seq - stream.highest) & 0xFFFF
                if delta < 0x8000:
                    stream.highest += delta
                stream.count += 1
            self.received += 1
            if arrival:
                self._sample(buf, ssrc, arrival)

    def _read_stamped(self, sock: socket.socket) -> tuple[int, float]:
        """One datagram and when the kernel received it (SO_TIMESTAMPNS, on the monotonic
        clock), so a busy generator does not count as network latency; else the read time."""
        size, ancillary, _, _ = sock.recvmsg_into([self._buf], 64)
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = _TIMESPEC.unpack_from(data)
                return size, sec + nsec / 1e9 - self._clock_offset
        return size, time.monotonic()

    def _sample(self, buf: bytearray, ssrc: int, arrival: float) -> None:
        assert self.latency is not None
        if self.abs_id:
            stamp = find_abs_send_time(buf, self.abs_id)
            if stamp >= 0:
                self.latency.append(media.abs_age(stamp, arrival))
            return
        clock = self.clocks.get(buf[1] & 0x7F)
        if clock:  # no abs-send-time: transit time, relative to the fastest packet later
            transit = arrival - _TS.unpack_from(buf, 4)[0] / clock
            self.transit.setdefault(ssrc, []).append(transit)

    def _rtcp(self, packet: bytes) -> None:
        from sfu import rtcp

        try:
            plain = self.rx.unprotect_rtcp(packet)
        except Exception:
            return
        for item in rtcp.parse(plain) or []:
            if isinstance(item, rtcp.Pli):
                self._keyframe(item.media_ssrc)
            elif isinstance(item, rtcp.Fir):
                for ssrc in item.media_ssrcs:
                    self._keyframe(ssrc)

    def _keyframe(self, ssrc: int) -> None:
        stream = self.by_ssrc.get(ssrc)
        if stream is not None:
            self.keyframe_requests += 1
            stream.key_wanted = True

    def consent(self) -> None:
        """An ICE binding request (RFC 7675 consent) on the raw socket: the SFU stops sending
        to a client that sent none for 30 s."""
        from aioice import stun

        if self.sock is None or self._ice is None:
            return
        ufrag, pwd, ours = self._ice
        msg = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{ufrag}:{ours}"
        msg.attributes["PRIORITY"] = 1_853_824_767
        msg.attributes["ICE-CONTROLLING"] = random.getrandbits(64)
        msg.add_message_integrity(pwd.encode())
        self._send(bytes(msg))

    # ---- results ----------------------------------------------------------------------------

    def snapshot(self) -> Window:
        return Window({ssrc: (s.highest, s.count) for ssrc, s in self.streams_in.items()})

    def window(self, start: Window) -> dict[int, tuple[int, int]]:
        """SSRC → (packets expected, packets received) since ``start``."""
        found = {}
        for ssrc, stream in self.streams_in.items():
            highest, count = start.at.get(ssrc, (stream.first - 1, 0))
            found[ssrc] = (stream.highest - highest, stream.count - count)
        return found

    def verify(self) -> tuple[int, int]:
        """(samples that decrypted to our media, samples tried): the first packet of each
        received audio/video SSRC, with this participant's SRTP keys."""
        ok = tried = 0
        for ssrc, packet in self.samples.items():
            if self.kinds.get(ssrc) not in ("audio", "video"):
                continue
            tried += 1
            try:
                plain = self.rx.unprotect(packet)
            except Exception:
                continue
            ok += media.carries_our_media(plain)
        return ok, tried

    async def close(self) -> None:
        """Stop reading and sending, close the WebSocket and the peer connection; idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        for task in list(self._tasks):
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), CLOSE_TIMEOUT_S)
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT_S)
