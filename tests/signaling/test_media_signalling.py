"""Media messages are carried to the SFU boundary and its events back to the client."""

from __future__ import annotations

from sfu.api import IceCandidate, SdpOffer, Speaking, TileView, TrackInfo, TracksChanged
from signaling import messages as m
from tests.signaling.conftest import Peer, Urok


async def test_offer_answer_and_events(urok: Urok) -> None:
    room, host = await urok.lesson()
    reply = await host.request(
        m.MediaOffer(id=Peer.rid(), sdp="v=0 offer", sources={"0": "mic", "1": "screen"})
    )
    assert isinstance(reply, m.MediaAnswerOut) and reply.sdp == f"v=0 answer-for-{host.me}"
    assert urok.media.offers == [(room, host.me, "v=0 offer")]
    assert urok.media.sources == {"0": "mic", "1": "screen"}
    notify = urok.media.notify[(room, host.me or "")]
    notify(SdpOffer(sdp="v=0 server"))
    notify(IceCandidate(candidate="candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdp_mid="0"))
    notify(TracksChanged(tracks=(TrackInfo("p1", "camera", "2", "s1"),)))
    notify(Speaking(dominant="p1", speaking=("p1",)))
    assert (await host.next(m.MediaOfferOut)).sdp == "v=0 server"
    assert (await host.next(m.MediaCandidateOut)).sdp_mid == "0"
    tracks = await host.next(m.Tracks)
    assert tracks.tracks[0].source == "camera" and tracks.tracks[0].participant_id == "p1"
    assert (await host.next(m.SpeakingOut)).dominant == "p1"
    await host.ok(m.MediaAnswer(id=Peer.rid(), sdp="v=0 answer"))
    await host.ok(m.MediaCandidate(id=Peer.rid(), candidate=None))
    bad = await host.request(m.MediaOffer(id=Peer.rid(), sdp="x", sources={"0": "mic"}))
    assert not isinstance(bad, m.Error)
    await host.send_raw('{"type":"media_offer","id":5,"sdp":"x","sources":{"0":"nose"}}')
    assert (await host.reply_to(5)).code == "invalid_message"  # type: ignore[union-attr]


async def test_view_reaches_the_sfu_and_is_validated(urok: Urok) -> None:
    room, host = await urok.lesson()
    tiles = (m.Tile(participant="p1", source="camera", width=320, height=180),)
    await host.ok(m.View(id=Peer.rid(), tiles=tiles))
    assert urok.media.views[(room, host.me or "")] == (TileView("p1", "camera", 320, 180),)
    tile = '{"participant":"p","source":"camera","width":1,"height":1}'
    many = ",".join(tile for _ in range(101))
    await host.send_raw(f'{{"type":"view","id":7,"tiles":[{many}]}}')
    assert (await host.reply_to(7)).code == "invalid_message"  # type: ignore[union-attr]
    huge = '{"participant":"p","source":"camera","width":99999,"height":1}'
    await host.send_raw(f'{{"type":"view","id":8,"tiles":[{huge}]}}')
    assert (await host.reply_to(8)).code == "invalid_message"  # type: ignore[union-attr]
    await host.ok(m.View(id=Peer.rid(), tiles=()))
    assert urok.media.views[(room, host.me or "")] == ()
