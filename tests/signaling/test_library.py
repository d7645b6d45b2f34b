"""The video library: access follows the room's rights; rename, delete, download, retention."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import av
import pytest

from broadcast.encoder import RenditionSpec
from broadcast.pipeline import open_broadcast
from broadcast.stage import StageState
from broadcast.synthetic import SyntheticStage
from recordings.storage import LocalStorage
from signaling import library
from tests.signaling.conftest import Urok

TINY = RenditionSpec("90p", 160, 90, 150, 48)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 4-second synthetic lesson recording (made once, copied per test)."""
    root = tmp_path_factory.mktemp("library")
    stage = SyntheticStage(1, 160, 90, [(0.0, StageState(active_speaker="s0"))])
    pipeline = open_broadcast(
        "lesson5a", stage, LocalStorage(root), (TINY,), title="Урок 5А", realtime=False
    )
    pipeline.run_frames(4 * 30)
    pipeline.close()
    return root / "lesson5a"


async def _install(urok: Urok, recorded: Path, rid: str, **entry: object) -> None:
    dest = urok.settings.data_dir / "recordings" / rid
    shutil.copytree(recorded, dest)
    manifest = (dest / "manifest.json").read_text().replace('"lesson5a"', f'"{rid}"')
    (dest / "manifest.json").write_text(manifest)
    fields: dict[str, object] = {"room": "r1", "org": "school1", "group": "5А", "owner": "t-anna"}
    fields.update({"kind": "call", "public": False, "created_at": time.time()})
    fields.update(entry)
    await library.save_entry(urok.client.app, library.RecordingEntry(id=rid, **fields))  # type: ignore[arg-type]


def _as(urok: Urok, name: str, role: str, **kw: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {urok.token(name, role, **kw)}"}  # type: ignore[arg-type]


async def test_who_sees_what(urok: Urok, recorded: Path) -> None:
    await _install(urok, recorded, "lesson5a")
    await _install(urok, recorded, "lesson6b", group="6Б")
    await _install(
        urok, recorded, "assembly", kind="broadcast", group=None, public=True, org="school2"
    )
    listing = await (
        await urok.client.get("/api/library", headers=_as(urok, "Маша", "student", group="5А"))
    ).json()
    ids = [r["id"] for r in listing["recordings"]]
    assert sorted(ids) == ["assembly", "lesson5a"]
    first = next(r for r in listing["recordings"] if r["id"] == "lesson5a")
    assert first["title"] == "Урок 5А" and first["status"] == "complete" and not first["can_manage"]
    assert 3.5 <= first["duration_s"] <= 4.5 and first["size_bytes"] > 0
    staff = await (
        await urok.client.get("/api/library", headers=_as(urok, "Учитель", "teacher"))
    ).json()
    assert sorted(r["id"] for r in staff["recordings"]) == ["assembly", "lesson5a", "lesson6b"]
    outsider = _as(urok, "Чужой", "teacher", org="school2")
    assert (await urok.client.get("/api/library/lesson5a", headers=outsider)).status == 404
    assert (await urok.client.get("/api/library")).status == 401
    for bad in ("..", "..%2F..%2Fetc", "lesson5a%00", "a" * 300):
        assert (await urok.client.get(f"/api/library/{bad}", headers=urok.api)).status == 404


async def test_rename_delete_rights(urok: Urok, recorded: Path) -> None:
    await _install(urok, recorded, "lesson5a")
    student = _as(urok, "Маша", "student", group="5А")
    path = "/api/library/lesson5a"
    assert (await urok.client.patch(path, json={"title": "x"}, headers=student)).status == 403
    assert (await urok.client.delete(path, headers=student)).status == 403
    owner = _as(urok, "Анна", "teacher", user_id="t-anna")
    renamed = await urok.client.patch(path, json={"title": "Дроби"}, headers=owner)
    assert renamed.status == 200 and (await renamed.json())["title"] == "Дроби"
    other_admin = _as(urok, "Директор", "admin", org="school2")
    assert (await urok.client.delete(path, headers=other_admin)).status == 404
    admin = _as(urok, "Директор", "admin")
    assert (await urok.client.delete(path, headers=admin)).status == 204
    assert not (urok.settings.data_dir / "recordings" / "lesson5a").exists()
    assert (await urok.client.get(path, headers=admin)).status == 404


async def test_download_and_thumbnail_by_link(urok: Urok, recorded: Path) -> None:
    await _install(urok, recorded, "lesson5a")
    token = urok.token("Маша", "student", group="5А")
    resp = await urok.client.get(
        f"/api/library/lesson5a/download.mp4?token={token}", headers={"Range": "bytes=99999999-"}
    )
    assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    data = await resp.read()
    with av.open(io.BytesIO(data)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert 110 <= frames <= 130
    thumb = await urok.client.get(f"/api/library/lesson5a/thumbnail.jpg?token={token}")
    assert thumb.status == 200 and (await thumb.read())[:2] == b"\xff\xd8"
    forged = await urok.client.get("/api/library/lesson5a/download.mp4?token=abc.def.ghi")
    assert forged.status == 401


async def test_retention_sweeps_old_recordings(urok: Urok, recorded: Path) -> None:
    await _install(urok, recorded, "old", created_at=time.time() - 40 * 86400)
    await _install(urok, recorded, "new")
    await _install(urok, recorded, "elsewhere", org="school2", created_at=time.time() - 400 * 86400)
    teacher = _as(urok, "Анна", "teacher")
    assert (
        await urok.client.put("/api/orgs/school1/retention", json={"days": 30}, headers=teacher)
    ).status == 403
    admin = _as(urok, "Директор", "admin")
    resp = await urok.client.put("/api/orgs/school1/retention", json={"days": 30}, headers=admin)
    assert resp.status == 200 and (await resp.json()) == {"org": "school1", "days": 30}
    assert await library.sweep(urok.client.app) == ["old"]
    left = await (await urok.client.get("/api/library", headers=urok.api)).json()
    assert sorted(r["id"] for r in left["recordings"]) == ["elsewhere", "new"]


async def test_a_recording_left_open_by_a_crash_is_closed_and_listed(
    recorded: Path, tmp_path: Path
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from signaling.app import create_app
    from signaling.config import Settings
    from signaling.state import MemoryStore
    from tests.signaling.conftest import API_KEY, SECRET

    dest = tmp_path / "recordings" / "lesson5a"
    shutil.copytree(recorded, dest)
    manifest = (dest / "manifest.json").read_text().replace('"complete"', '"recording"')
    (dest / "manifest.json").write_text(manifest)
    settings = Settings(data_dir=tmp_path, secret=SECRET, api_keys=(API_KEY,), media=False)
    async with TestClient(TestServer(create_app(settings, store=MemoryStore()))) as client:
        entry = library.RecordingEntry(
            id="lesson5a", room="r", org="s", group=None, owner=None, kind="call", public=False,
            created_at=time.time(),
        )  # fmt: skip
        await library.save_entry(client.app, entry)
        got = await (
            await client.get(
                "/api/library/lesson5a", headers={"Authorization": f"Bearer {API_KEY}"}
            )
        ).json()
    assert got["status"] == "interrupted" and got["duration_s"] > 3.0
    assert "#EXT-X-ENDLIST" in (dest / "90p" / "playlist.m3u8").read_text()
