"""One participant in a room: its transport, the tracks it publishes, the copies it receives,
and the offer/answer state of its single connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sfu import negotiation as neg
from sfu.api import (
    MediaError,
    MediaEvent,
    Notify,
    SdpOffer,
    Source,
    TileView,
    TrackInfo,
    TracksChanged,
)
from sfu.forwarder import CodecInfo, DownTrack, Track
from sfu.sdp import Codec, Media, SessionDescription
from sfu.transport import Transport

if TYPE_CHECKING:
    from sfu.room import Room

logger = logging.getLogger(__name__)


class Participant:
    """Owns a Transport, its published Tracks and its DownTracks; close() releases them all."""

    def __init__(
        self,
        room: Room,
        pid: str,
        publish: frozenset[Source],
        notify: Notify,
        transport: Transport,
        viewer: bool = False,
    ) -> None:
        self.room = room
        # a receive-only viewer (WHEP): its offer's recvonly sections are its slots, no offers
        self.viewer = viewer
        self.created_at = time.monotonic()
        self.id = pid
        self.publish = publish
        self.notify = notify
        self.transport = transport
        self.sections: list[neg.Section] = []
        self.pt_table: dict[str, int] = {}  # codec key -> the client's payload type
        self.ext_table: dict[str, int] = {}  # header extension URI -> the client's id
        self.rtx_table: dict[int, int] = {}  # payload type -> the client's RTX payload type
        self.tracks: dict[str, Track] = {}  # mid -> published track
        self.downs: dict[str, DownTrack] = {}  # mid -> forwarded copy
        self.allowed: dict[Source, bool] = {}
        self.view: tuple[TileView, ...] = ()  # the tiles the client reported it shows
        self.accepted: set[str] = set()  # server mids the client's last answer receives on
        # empty slot -> seq, timestamp and time of the last packet it sent
        self.slot_ends: dict[str, tuple[int, int, float]] = {}
        self.slot_templates: dict[str, Track] = {}  # slot -> the track its codec came from
        self.congested_until = 0.0  # simulcast: layers fit the REMB estimate until then
        self.session_id = neg.new_session_id()
        self.version = 0
        self.remote_ufrag: str | None = None
        self.answered_once = False
        self.pending_offer = False
        self.offers_sent = 0
        self.needs_offer = False
        self._offer_scheduled = False
        self.closed = False
        transport.on_ready = self._transport_ready

    # ---- client offers ----------------------------------------------------------------------

    def on_offer(self, desc: SessionDescription, sources: Mapping[str, Source]) -> str:
        """Apply the client's offer and return the answer (glare: the client's offer wins)."""
        if self.pending_offer:
            self.pending_offer = False
            self.needs_offer = True
        self._ice_and_dtls(desc, answering=True)
        found = neg.infer_sources(desc, dict(sources))
        answered: list[neg.Section] = []
        for media in desc.media:
            answered.append(self._apply_offered(media, found.get(media.mid or "")))
            if self.viewer:
                self._viewer_slot(answered[-1], media)
        self.answered_once = True
        for sec in self.sections:
            down = self.downs.get(sec.mid)
            if sec.by_server and sec.codec is None and down is not None:
                self._assign_send(sec, down)
            elif sec.by_server and sec.codec is None and sec.mid in self.slot_templates:
                self._assign_slot(sec, self.slot_templates[sec.mid])
        # m-line order is fixed by the client's offer; sections still to be offered go last
        self.sections = answered + [s for s in self.sections if s not in answered]
        if self.needs_offer:  # forwarded tracks changed since the last offer went out
            self._schedule_offer()
        return self._render(answered, setup=self._setup_answer(desc))

    def _ice_and_dtls(self, desc: SessionDescription, answering: bool) -> None:
        first = next((m for m in desc.media if m.port), None)
        if first is None:
            raise MediaError("bad_sdp", "no usable m-section")
        ufrag = desc.media_or_session(first, "ice-ufrag")
        fingerprints = desc.fingerprints(first)
        if not ufrag or not fingerprints:
            raise MediaError("bad_sdp", "ice-ufrag or fingerprint missing")
        if self.remote_ufrag is not None and ufrag != self.remote_ufrag:
            self.transport.restart_ice()
        self.remote_ufrag = ufrag
        setup = desc.media_or_session(first, "setup") or "actpass"
        self.transport.start_dtls(fingerprints, server=setup != "passive")

    def _setup_answer(self, desc: SessionDescription) -> str:
        first = next(m for m in desc.media if m.port)
        return "active" if desc.media_or_session(first, "setup") == "passive" else "passive"

    def _apply_offered(self, media: Media, source: Source | None) -> neg.Section:
        mid = media.mid or ""
        sec = self._section(mid)
        if sec is None:
            sec = neg.Section(mid=mid, kind=media.kind, by_server=False)
            self.sections.append(sec)
        sec.proto, sec.formats = media.proto, list(media.formats)
        sec.rtcp_rsize = media.has("rtcp-rsize")
        codec = self._offered_codec(sec, media)
        if not mid or not media.port or media.kind not in ("audio", "video") or codec is None:
            sec.rejected = True
            self._unpublish(sec)
            return sec
        self._learn_tables(media)
        sec.codec = neg.negotiated_codec(codec, media.kind)
        if sec.by_server:
            sec.rtx_pt = neg.offered_rtx(media, codec.pt)
            self._rtx_accepted(sec)
        sec.extmap = neg.accepted_extmap(media)
        sec.client_recv = media.direction in ("sendrecv", "recvonly")
        wants_send = media.direction in ("sendrecv", "sendonly")
        sec.recv = wants_send and self._may_publish(sec, source)
        sec.source = source if sec.recv else None
        sec.ssrcs = _primary_ssrcs(media)
        sec.rids = neg.simulcast_rids(media) if sec.recv and media.kind == "video" else []
        self._publish_or_unpublish(sec)
        return sec

    def _offered_codec(self, sec: neg.Section, media: Media) -> Codec | None:
        if (sec.by_server or sec.slot) and sec.codec is not None:
            key = sec.codec.key
            return next((c for c in media.codecs() if c.key == key), None)
        if self.viewer:  # a viewer's slot takes the codec the room's publishers send
            keys = [t.codec.key for t in self.room.tracks if t.codec.kind == media.kind]
            for key in keys:
                found = next((c for c in media.codecs() if c.key == key), None)
                if found is not None:
                    return found
        return neg.choose_codec(media)

    def _viewer_slot(self, sec: neg.Section, media: Media) -> None:
        """A viewer's recvonly section becomes a fixed receive slot (SSRC for its life)."""
        if sec.rejected or sec.recv or not sec.client_recv or sec.codec is None:
            return
        sec.slot = True
        if not sec.send_ssrc:
            sec.send_ssrc = random.randrange(1, 1 << 32)
            sec.send_msid = (f"urok-{sec.mid}", f"urok-{sec.mid}")
        if sec.kind == "video":
            sec.rtx_pt = neg.offered_rtx(media, sec.codec.pt)
            sec.rtx_ssrc = sec.rtx_ssrc or random.randrange(1, 1 << 32) if sec.rtx_pt else 0
            self._rtx_accepted(sec)
        self.accepted.add(sec.mid)

    def connected(self, now: float) -> bool:
        """The path is up, or still young enough to come up (ICE consent timeout)."""
        if self.transport.remote is not None:
            return True
        return now - self.created_at < 30.0 and self.transport.last_check == 0.0

    def _learn_tables(self, media: Media) -> None:
        for codec in media.codecs():
            if codec.name.lower() == "rtx":
                apt = codec.fmtp_params().get("apt", "")
                if apt.isdigit():
                    self.rtx_table.setdefault(int(apt), codec.pt)
            else:
                self.pt_table.setdefault(codec.key, codec.pt)
        for uri, ext_id in media.extmaps().items():
            self.ext_table.setdefault(uri, ext_id)
        if neg.MID_EXT in self.ext_table:
            self.transport.mid_ext_id = self.ext_table[neg.MID_EXT]
        if neg.RID_EXT in self.ext_table:
            self.transport.rid_ext_id = self.ext_table[neg.RID_EXT]

    def _may_publish(self, sec: neg.Section, source: Source | None) -> bool:
        if source is None or source not in self.publish:
            if source is not None:
                logger.info("%s may not publish %s", self.id, source)
            return False
        if (source == "mic") != (sec.kind == "audio"):
            return False
        return all(t.source != source for m, t in self.tracks.items() if m != sec.mid)

    def _publish_or_unpublish(self, sec: neg.Section) -> None:
        track = self.tracks.get(sec.mid)
        if not sec.recv:
            self._unpublish(sec)
            return
        assert sec.codec is not None and sec.source is not None
        if track is not None and [t.rid for t in track.layers] != sec.rids:
            self._unpublish(sec)  # simulcast turned on or off: a new track
            track = None
        if track is None:
            track = self._new_track(sec)
            self.tracks[sec.mid] = track
            self.transport.mid_tracks[sec.mid] = track
            self.room.published(track)
        if sec.ssrcs and not track.layers and track.ssrc != sec.ssrcs[0]:
            self.transport.inbound.pop(track.ssrc, None)
            track.ssrc = sec.ssrcs[0]
            self.transport.inbound[track.ssrc] = track

    def _new_track(self, sec: neg.Section) -> Track:
        assert sec.codec is not None and sec.source is not None
        c = sec.codec
        codec = CodecInfo(sec.kind, c.name, c.key, c.clock_rate, c.pt, c.fmtp, c.channels)
        strip = frozenset(i for uri, i in sec.extmap.items() if uri in neg.STRIPPED_EXTS)
        track = Track(self.id, sec.source, codec, self.transport, self.room.tx, strip)
        track.publisher_extmap = dict(sec.extmap)
        track.allowed = self.allowed.get(sec.source, True)
        track.egress = self.room.egress
        if sec.rids:
            track.add_layers(sec.rids, strip)
        return track

    def _unpublish(self, sec: neg.Section) -> None:
        track = self.tracks.pop(sec.mid, None)
        if track is not None:
            for stream in [track, *track.layers]:
                if self.transport.inbound.get(stream.ssrc) is stream:
                    del self.transport.inbound[stream.ssrc]
            self.transport.mid_tracks.pop(sec.mid, None)
            track.close()

    # ---- server offers ----------------------------------------------------------------------

    def _new_slot(self, template: Track) -> neg.Section:
        """A new receive slot for ``template``'s kind and codec (offered to the client)."""
        kind = template.codec.kind
        sec = neg.Section(
            mid=f"s{sum(s.by_server for s in self.sections)}", kind=kind, by_server=True
        )
        self.sections.append(sec)
        sec.send_ssrc = random.randrange(1, 1 << 32)
        sec.client_recv = True
        sec.send_msid = (f"urok-{sec.mid}", f"urok-{sec.mid}")
        self.slot_templates[sec.mid] = template
        if self.answered_once:  # else after the client's first offer: its numbering is known
            self._assign_slot(sec, template)
        self._schedule_offer()
        return sec

    def _assign_slot(self, sec: neg.Section, template: Track) -> None:
        """Codec, payload types and header extension ids of a slot, in the subscriber's
        numbering (the slot keeps them: only tracks of that codec go there)."""
        c = template.codec
        pt = self._payload_type(c)
        sec.codec = neg.send_codec(Codec(pt, c.name, c.clock_rate, c.channels, c.fmtp), c.kind, pt)
        sec.rtx_pt = self._rtx_payload_type(pt) if c.kind == "video" else 0
        sec.rtx_ssrc = sec.rtx_ssrc or random.randrange(1, 1 << 32) if sec.rtx_pt else 0
        sec.extmap = self._send_extmap(template)[0]

    def _assign_send(self, sec: neg.Section, down: DownTrack) -> None:
        """Negotiate the slot for the copy it shows, and number the copy the slot's way."""
        self._assign_slot(sec, down.track)
        down.pt = sec.codec.pt if sec.codec is not None else down.pt
        down.id_map = self._send_extmap(down.track)[1]
        down.rtx_ssrc = sec.rtx_ssrc
        down.track.invalidate()

    def unsubscribe(self, track: Track) -> None:
        """Empty the slot showing ``track``; the slot stays negotiated (no offer)."""
        for mid, down in list(self.downs.items()):
            if down.track is track:
                self._empty(mid)

    # ---- fixed receive slots ----------------------------------------------------------------

    def receive(self, kind: str, wanted: list[Track], cap: int) -> None:
        """Show ``wanted`` (priority order, at most ``cap``) in this kind's slots. Existing slots
        are refilled by rewriting SSRCs; only a new slot (below ``cap``) needs an offer."""
        wanted = [t for t in wanted if t.owner != self.id][:cap]
        keep = {id(t) for t in wanted}
        changed = False
        for mid, down in list(self.downs.items()):
            if down.track.codec.kind == kind and id(down.track) not in keep:
                self._empty(mid)
                changed = True
        placed = {id(d.track) for d in self.downs.values()}
        for track in (t for t in wanted if id(t) not in placed):
            free = [s for s in self._server_sections(kind) if s.mid not in self.downs]
            sec = next((s for s in free if _fits(s, track)), None)
            if sec is None and self.viewer:
                continue  # a viewer has the slots its offer made, no more
            if sec is None:
                sec = self._new_slot(track)
                # every slot up to the cap at once: later joins only rewrite SSRCs
                while len(self._server_sections(kind)) < cap:
                    self._new_slot(track)
            self._switch(sec, track)
            changed = True
        if changed and not self.needs_offer:
            self.emit(TracksChanged(self._track_infos()))

    def _empty(self, mid: str) -> None:
        down = self.downs.pop(mid)
        self.transport.outbound.pop(down.ssrc, None)
        end = down.resume_from or _last_sent(down)  # a copy still waiting: the slot's old end
        if end is not None:
            self.slot_ends[mid] = end
        down.close()

    def _switch(self, sec: neg.Section, track: Track) -> None:
        down = DownTrack(track, self.transport, sec.send_ssrc, track.codec.pt)
        down.target_layer = self.room.initial_layer(self, track)
        if sec.codec is not None:
            down.pt = sec.codec.pt
            down.id_map = self._send_extmap(track)[1]
            down.rtx_ssrc = sec.rtx_ssrc
            down.rtx_pt = sec.rtx_pt if sec.rtx_ssrc and sec.mid in self.accepted else 0
        down.active = sec.mid in self.accepted
        self.downs[sec.mid] = down
        self.transport.outbound[sec.send_ssrc] = down
        end = self.slot_ends.pop(sec.mid, None)
        if end is not None and track.codec.kind == "video":
            down.resume_from = end  # a running video waits for its key frame (Track.add)
        track.add(down)  # a simulcast group puts it on a layer
        if down.resume_from is None:  # placed at once: continue the slot's numbering now
            _continue(down, end)
        if down.active:
            down.stream.request_keyframe()

    def _server_sections(self, kind: str) -> list[neg.Section]:
        return [s for s in self.sections if (s.by_server or s.slot) and s.kind == kind]

    def _payload_type(self, codec: CodecInfo) -> int:
        if codec.key in self.pt_table:
            return self.pt_table[codec.key]
        used = set(self.pt_table.values())
        pt = codec.pt if codec.pt not in used else next(p for p in range(96, 128) if p not in used)
        self.pt_table[codec.key] = pt
        return pt

    def _rtx_payload_type(self, pt: int) -> int:
        if pt in self.rtx_table:
            return self.rtx_table[pt]
        used = set(self.pt_table.values()) | set(self.rtx_table.values())
        free = [p for p in range(96, 128) if p not in used]
        if not free:
            return 0
        self.rtx_table[pt] = free[0]
        return free[0]

    def _send_extmap(self, track: Track) -> tuple[dict[str, int], dict[int, int] | None]:
        """The subscriber's ids for the extensions forwarded; an id map if they differ."""
        extmap: dict[str, int] = {}
        for uri, pub_id in track.publisher_extmap.items():
            if uri not in neg.FORWARDED_EXTS:
                continue
            if uri not in self.ext_table:
                used = set(self.ext_table.values())
                free = [i for i in range(1, 15) if i not in used]
                if not free:
                    continue
                self.ext_table[uri] = pub_id if pub_id not in used else free[0]
            extmap[uri] = self.ext_table[uri]
        identity = all(
            extmap.get(uri) == i
            for uri, i in track.publisher_extmap.items()
            if uri in neg.FORWARDED_EXTS
        )
        if identity:
            return extmap, None
        pub = track.publisher_extmap
        return extmap, {pub[uri]: sub_id for uri, sub_id in extmap.items()}

    def _schedule_offer(self) -> None:
        if self.viewer:
            return
        self.needs_offer = True
        if not self._offer_scheduled and not self.closed:
            self._offer_scheduled = True
            asyncio.get_running_loop().call_soon(self._maybe_offer)

    def _maybe_offer(self) -> None:
        self._offer_scheduled = False
        if self.closed or not self.answered_once or self.pending_offer or not self.needs_offer:
            return
        self.needs_offer = False
        self.pending_offer = True
        self.offers_sent += 1
        live = [s for s in self.sections if not (s.by_server and s.rejected)]
        self.emit(TracksChanged(self._track_infos()))
        self.emit(SdpOffer(self._render(live, setup="actpass")))

    def _track_infos(self) -> tuple[TrackInfo, ...]:
        infos = []
        for mid, down in self.downs.items():
            sec = self._section(mid)
            if sec is not None:
                infos.append(TrackInfo(down.track.owner, down.track.source, mid, sec.send_msid[0]))
        return tuple(infos)

    def on_answer(self, desc: SessionDescription) -> None:
        """Apply the client's answer to the SFU's latest offer.

        An answer that arrives late (the client answered an offer it received after its own
        offer won a glare) is still applied: each describes the whole connection."""
        if not self.offers_sent:
            raise MediaError("no_offer", "there is no offer to answer")
        self.pending_offer = False
        for media in desc.media:
            sec = self._section(media.mid or "")
            if sec is None:
                continue
            if sec.by_server and sec.codec is not None:
                if not neg.offered_rtx(media, sec.codec.pt):
                    sec.rtx_pt = 0
                self._rtx_accepted(sec)
            down = self.downs.get(sec.mid)
            accepted = bool(media.port) and media.direction in ("recvonly", "sendrecv")
            if sec.by_server and not media.port:
                sec.rejected = True
            if accepted:
                self.accepted.add(sec.mid)
            else:
                self.accepted.discard(sec.mid)
            if down is not None and down.active != accepted:
                down.active = accepted
                down.track.invalidate()
                if accepted:
                    down.stream.request_keyframe()
        if self.needs_offer:
            self._schedule_offer()

    def _rtx_accepted(self, sec: neg.Section) -> None:
        down = self.downs.get(sec.mid)
        if down is not None:
            down.rtx_pt = sec.rtx_pt if sec.rtx_ssrc else 0

    # ---- helpers ----------------------------------------------------------------------------

    def _render(self, sections: list[neg.Section], setup: str) -> str:
        self.version += 1
        local = neg.Local(
            self.transport.local_ufrag,
            self.transport.local_pwd.decode(),
            self.room.fingerprint,
            self.transport.mux.candidates(),
        )
        mids = [s.mid for s in sections if not s.rejected]
        lines = neg.session_lines(self.session_id, self.version, mids)
        for sec in sections:
            lines += neg.media_lines(sec, local, setup)
        return "\r\n".join(lines) + "\r\n"

    def _section(self, mid: str) -> neg.Section | None:
        return next((s for s in self.sections if s.mid == mid), None)

    def _transport_ready(self) -> None:
        for down in self.transport.outbound.values():
            down.track.invalidate()
        for track in self.tracks.values():
            track.request_keyframe()

    def emit(self, event: MediaEvent) -> None:
        """Hand an event to signaling; a failing callback is logged, never raised."""
        try:
            self.notify(event)
        except Exception:
            logger.exception("notify failed for %s", self.id)

    def set_allowed(self, source: Source, allowed: bool) -> None:
        self.allowed[source] = allowed
        for track in self.tracks.values():
            if track.source == source:
                track.set_allowed(allowed)

    async def close(self) -> None:
        """Unpublish, unsubscribe, close the transport; idempotent."""
        if self.closed:
            return
        self.closed = True
        for sec in self.sections:
            self._unpublish(sec)
        for down in list(self.downs.values()):
            down.close()
        self.downs.clear()
        await self.transport.close()


def _primary_ssrcs(media: Media) -> list[int]:
    """SSRCs of the media streams (the first of each FID group; RTX SSRCs left out)."""
    ssrcs = media.ssrcs()
    repair = {g[1][1] for g in media.ssrc_groups() if g[0] == "FID" and len(g[1]) > 1}
    return [s for s in ssrcs if s not in repair]


def _fits(sec: neg.Section, track: Track) -> bool:
    """A slot negotiated for one codec carries only that codec (no renegotiation)."""
    c = sec.codec
    return c is None or (c.name.lower(), c.clock_rate) == (
        track.codec.name.lower(),
        track.codec.clock_rate,
    )


def _last_sent(down: DownTrack) -> tuple[int, int, float] | None:
    """The sequence number, timestamp and time of the last packet this copy sent."""
    end = down.stream.last_sent(down)
    return None if end is None else (end[0], end[1], down.stream.last_forwarded_at)


def _continue(down: DownTrack, end: tuple[int, int, float] | None) -> None:
    """A slot's new source continues its numbering: next seq, timestamp one 20 ms step on."""
    stream = down.stream
    last = stream.last_forwarded
    packet = stream.cached(last) if last is not None else None
    if end is None or packet is None or last is None:
        return
    ts = struct.unpack_from("!I", packet, 4)[0]
    down.seq_offset = (end[0] - last) & 0xFFFF
    down.ts_offset = (end[1] + stream.codec.clock_rate // 50 - ts) & 0xFFFFFFFF
    stream.invalidate()


__all__ = ["Participant"]
