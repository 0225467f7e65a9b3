"""The media library API in-process, on the local backend and on S3 (moto on loopback), on SQLite
and PostgreSQL: uploads identified by content, listing, signed downloads, Range, deletion,
isolation between users, size limits, plan limits and projects."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.server.media_support import PART, stored


@pytest.fixture
def core(media_core):
    return media_core


def _upload(client, account, path: Path, name: str | None = None, content_type: str = "application/octet-stream"):
    with open(path, "rb") as fh:
        return client.post(
            "/api/media/upload", headers=account.headers, files={"file": (name or path.name, fh, content_type)}
        )


def _fetch(client, url: str, **kw) -> httpx.Response:
    """A signed URL: the local backend's is served by the app, S3's by moto."""
    if url.startswith("http://testserver/"):
        return client.get(url, **kw)
    return httpx.get(url, **kw)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_uploads_are_identified_by_content_listed_downloaded_and_deleted(
    client, core, make_account, media_files
) -> None:
    account = make_account()
    clip, tone, still = media_files["clip"], media_files["tone"], media_files["still"]
    # the names lie; the content decides
    video = _upload(client, account, clip, name="holiday.wav", content_type="audio/wav")
    assert video.status_code == 201, video.text
    v = video.json()
    assert (v["file_type"], v["mime_type"], v["status"]) == ("video", "video/mp4", "ready")
    assert v["filename"] == "holiday.wav" and abs(v["duration"] - 2.0) < 0.1
    assert (v["width"], v["height"], v["video_codec"], v["audio_codec"]) == (160, 120, "h264", "aac")
    assert v["file_size"] == clip.stat().st_size and v["checksum_sha256"] == _sha(clip)
    assert v["has_thumbnail"] and _fetch(client, v["thumbnail_url"]).content[:3] == b"\xff\xd8\xff"
    audio = _upload(client, account, tone, name="tone.mp4").json()
    assert (audio["file_type"], audio["mime_type"], audio["width"], audio["has_thumbnail"]) == (
        "audio",
        "audio/wav",
        None,
        False,
    )
    image = _upload(client, account, still).json()
    assert (image["file_type"], image["mime_type"], image["duration"], image["width"]) == (
        "image",
        "image/png",
        None,
        64,
    )
    assert image["has_thumbnail"]

    # the object keys come from ids, never from the names
    objects, uploads = stored(core)
    assert uploads == [] and len(objects) == 5  # three originals, two thumbnails
    assert all(k.startswith(f"media/{account.id}/") and "holiday" not in k for k in objects)

    listed = client.get("/api/media", headers=account.headers).json()
    assert listed["total"] == 3 and [m["id"] for m in listed["media"]] == [image["id"], audio["id"], v["id"]]
    assert [m["id"] for m in client.get("/api/media?type=audio", headers=account.headers).json()["media"]] == [
        audio["id"]
    ]
    by_size = client.get("/api/media?sort=file_size", headers=account.headers).json()["media"]
    assert [m["file_size"] for m in by_size] == sorted(m["file_size"] for m in by_size)
    page2 = client.get("/api/media?per_page=2&page=2", headers=account.headers).json()
    assert page2["total"] == 3 and len(page2["media"]) == 1
    assert client.get("/api/media?type=pdf", headers=account.headers).status_code == 422
    assert client.get("/api/media?status=ready&sort=nonsense", headers=account.headers).status_code == 422

    one = client.get(f"/api/media/{v['id']}", headers=account.headers).json()
    assert _fetch(client, one["download_url"]).content == clip.read_bytes()

    usage = client.get("/api/users/usage", headers=account.headers).json()
    total = sum(p.stat().st_size for p in (clip, tone, still))
    assert usage["storage"]["used_bytes"] == total and usage["media"]["count"] == 3
    assert usage["uploads"] == {"in_progress": 0, "reserved_bytes": 0}

    assert client.delete(f"/api/media/{v['id']}", headers=account.headers).status_code == 204
    assert client.get(f"/api/media/{v['id']}", headers=account.headers).status_code == 404
    assert client.delete(f"/api/media/{v['id']}", headers=account.headers).status_code == 404
    assert len(stored(core)[0]) == 3  # the video and its thumbnail are gone
    after = client.get("/api/users/usage", headers=account.headers).json()
    assert after["storage"]["used_bytes"] == total - clip.stat().st_size


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_text_named_mp4_is_refused_with_415_and_leaves_nothing(client, core, make_account, media_files) -> None:
    account = make_account()
    fake = media_files["fake"]
    refused = _upload(client, account, fake, content_type="video/mp4")
    assert refused.status_code == 415 and refused.json()["error"]["code"] == "input_not_media"
    assert "not audio, video or an image" in refused.json()["error"]["message"]
    # the resumable way too: refused on the first bytes, and the upload is dropped
    created = client.post(
        "/api/media/uploads", headers=account.headers, json={"filename": "fake.mp4", "size": fake.stat().st_size}
    ).json()
    sent = client.patch(
        created["upload_url"], headers={**account.headers, "Upload-Offset": "0"}, content=fake.read_bytes()
    )
    assert sent.status_code == 415
    assert client.get(created["upload_url"], headers=account.headers).status_code == 404
    assert client.get("/api/media", headers=account.headers).json()["total"] == 0
    assert stored(core) == ([], [])
    empty = client.post("/api/media/upload", headers=account.headers, files={"file": ("e.mp4", b"", "video/mp4")})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "input_empty"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_size_limits_413_before_and_while_reading(settings_env, client, core, make_account, media_files) -> None:
    account = make_account()
    limit = core.settings.max_upload_bytes
    # declared too large: refused before the body is read (nothing is reserved)
    too_big = client.post("/api/media/uploads", headers=account.headers, json={"filename": "x.mp4", "size": limit + 1})
    assert too_big.status_code == 413 and str(limit) in too_big.json()["error"]["message"]
    # a body larger than the upload declared: refused while reading, and the upload is dropped
    tone = media_files["tone"].read_bytes()
    created = client.post(
        "/api/media/uploads", headers=account.headers, json={"filename": "t.wav", "size": 1000}
    ).json()

    def body():
        yield tone[:600]
        yield tone[600:5000]

    over = client.patch(created["upload_url"], headers={**account.headers, "Upload-Offset": "0"}, content=body())
    assert over.status_code == 413 and "1000 bytes" in over.json()["error"]["message"]
    assert client.get(created["upload_url"], headers=account.headers).status_code == 404
    # a multipart upload without Content-Length (chunked) cannot reserve storage
    chunked = client.post(
        "/api/media/upload",
        headers={**account.headers, "Content-Type": "multipart/form-data; boundary=x"},
        content=iter([b"--x\r\n"]),
    )
    assert chunked.status_code == 411
    assert stored(core) == ([], [])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_413_is_answered_before_the_body_is_sent(core, make_account, live_server) -> None:
    import socket

    account = make_account()
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /api/media/upload HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {account.token}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {core.settings.max_upload_bytes * 2}\r\n\r\n"
            ).encode()
        )
        answer = sock.recv(65536).decode("latin-1")  # no byte of the body was sent: a reader would wait forever
    assert answer.startswith("HTTP/1.1 413"), answer[:200]


def test_users_cannot_see_or_touch_each_others_media_and_projects(client, core, make_account, media_files) -> None:
    alice, bob = make_account(), make_account()
    media = _upload(client, alice, media_files["tone"]).json()
    project = client.post("/api/projects", headers=alice.headers, json={"name": "Alice's"}).json()
    upload = client.post("/api/media/uploads", headers=alice.headers, json={"filename": "x.wav", "size": 10}).json()
    for method, path, body in [
        ("GET", f"/api/media/{media['id']}", None),
        ("DELETE", f"/api/media/{media['id']}", None),
        ("GET", upload["upload_url"], None),
        ("DELETE", upload["upload_url"], None),
        ("GET", f"/api/projects/{project['id']}", None),
        ("PUT", f"/api/projects/{project['id']}", {"name": "mine now"}),
        ("DELETE", f"/api/projects/{project['id']}", None),
        ("POST", f"/api/projects/{project['id']}/segments", {"media_id": media["id"]}),
    ]:
        answer = client.request(method, path, headers=bob.headers, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    patched = client.patch(upload["upload_url"], headers={**bob.headers, "Upload-Offset": "0"}, content=b"RIFF")
    assert patched.status_code == 404
    assert client.get("/api/media", headers=bob.headers).json()["total"] == 0
    assert client.get("/api/projects", headers=bob.headers).json()["total"] == 0
    # Bob cannot put Alice's media into his own project either
    own = client.post("/api/projects", headers=bob.headers, json={"name": "Bob's"}).json()
    stolen = client.post(f"/api/projects/{own['id']}/segments", headers=bob.headers, json={"media_id": media["id"]})
    assert stolen.status_code == 404
    assert client.get(f"/api/media/{media['id']}", headers=alice.headers).status_code == 200
    assert client.get(f"/api/projects/{project['id']}", headers=alice.headers).json()["name"] == "Alice's"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_local_signed_urls_expire_and_refuse_tampering(client, core, make_account, media_files, clock) -> None:
    account = make_account()
    media = _upload(client, account, media_files["tone"]).json()
    url = media["download_url"]
    assert client.get(url).content == media_files["tone"].read_bytes()
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert set(query) == {"expires", "filename", "type", "signature"}
    other = _upload(client, account, media_files["clip"]).json()
    other_key = urlsplit(other["download_url"]).path
    for tampered in [
        url.replace(f"expires={query['expires']}", f"expires={int(query['expires']) + 3600}"),
        url.replace("filename=", "filename=x"),
        url.replace(parts.path, other_key),  # another object with this signature
        url.replace(f"signature={query['signature']}", "signature=" + "0" * 64),
        url.split("&signature=")[0],
    ]:
        refused = client.get(tampered)
        assert refused.status_code == 403, tampered
        assert refused.json()["error"]["code"] == "download_link_invalid"
    clock.advance(core.settings.signed_url_ttl_seconds + 1)
    expired = client.get(url)
    assert expired.status_code == 403 and "expired" in expired.json()["error"]["message"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["s3"], indirect=True)
def test_s3_download_urls_are_sigv4_presigned_with_the_ttl(client, core, make_account, media_files) -> None:
    account = make_account()
    media = _upload(client, account, media_files["clip"]).json()
    url = media["download_url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == str(core.settings.signed_url_ttl_seconds)
    assert query["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request") and len(query["X-Amz-Signature"]) == 64
    assert "attachment" in query["response-content-disposition"] and query["response-content-type"] == "video/mp4"
    assert urlsplit(url).path.endswith(f"/media/{account.id}/{media['id']}/original")
    assert httpx.get(url).content == media_files["clip"].read_bytes()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_range_requests(client, make_account, media_files) -> None:
    account = make_account()
    data = media_files["clip"].read_bytes()
    url = _upload(client, account, media_files["clip"]).json()["download_url"]
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert head.headers["accept-ranges"] == "bytes"
    first = client.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == data[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert client.get(url, headers={"Range": "bytes=1000-"}).content == data[1000:]
    assert client.get(url, headers={"Range": "bytes=-10"}).content == data[-10:]
    assert client.get(url, headers={"Range": f"bytes=100-{len(data) * 2}"}).content == data[100:]
    outside = client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert outside.status_code == 416 and outside.headers["content-range"] == f"bytes */{len(data)}"
    assert outside.json()["error"]["code"] == "range_not_satisfiable"
    assert client.get(url, headers={"Range": "bytes=0-1,5-6"}).content == data  # several ranges: the whole file


def test_resumable_upload_continues_from_the_stored_offset(client, core, make_account, long_wav, storage_kind) -> None:
    account = make_account()
    data = long_wav.read_bytes()
    created = client.post(
        "/api/media/uploads",
        headers=account.headers,
        json={"filename": "long.wav", "size": len(data), "checksum_sha256": _sha(long_wav)},
    )
    assert created.status_code == 201
    up = created.json()
    assert up["offset"] == 0 and up["part_size"] == PART and up["size"] == len(data)
    usage = client.get("/api/users/usage", headers=account.headers).json()
    assert usage["uploads"] == {"in_progress": 1, "reserved_bytes": len(data)}
    # a first request that ends after 7 MiB (as if the connection dropped there)
    first = client.patch(
        up["upload_url"], headers={**account.headers, "Upload-Offset": "0"}, content=data[: 7 * 1024 * 1024]
    )
    offset = first.json()["offset"]
    # S3 keeps whole parts only; the local backend every byte
    assert offset == (PART if storage_kind == "s3" else 7 * 1024 * 1024) and not first.json()["complete"]
    status = client.get(up["upload_url"], headers=account.headers)
    assert status.json()["offset"] == offset and status.headers["upload-offset"] == str(offset)
    wrong = client.patch(up["upload_url"], headers={**account.headers, "Upload-Offset": "0"}, content=data[:10])
    assert wrong.status_code == 409 and wrong.json()["error"]["offset"] == offset
    done = client.patch(
        up["upload_url"], headers={**account.headers, "Upload-Offset": str(offset)}, content=data[offset:]
    )
    assert done.status_code == 200 and done.json()["complete"]
    media = done.json()["media"]
    assert media["status"] == "ready" and media["file_size"] == len(data) and media["checksum_sha256"] == _sha(long_wav)
    assert _fetch(client, media["download_url"]).content == data
    assert stored(core)[1] == []


def test_an_upload_sent_whole_to_s3_is_identified_without_reading_it_back(
    client, core, make_account, long_wav, media_files, storage_kind, monkeypatch
) -> None:
    """On S3 the probe reads the first and last bytes that went through the server, not the stored
    object: no read-back for audio sent in one request (form or resumable). A video still reads the
    object for its thumbnail; an upload whose window lacks what ffprobe needs, or that arrived in
    several requests, is probed from storage. The local backend probes its file, as before."""
    from mediaenhancer_core.library import uploads as uploads_module
    from mediaenhancer_core.library.bytewindow import WindowCollector

    storage = core.library.storage
    reads: list[str] = []
    real_readable = storage.readable

    def counting(key):
        reads.append(key)
        return real_readable(key)

    monkeypatch.setattr(storage, "readable", counting)
    account = make_account()
    data = long_wav.read_bytes()
    remote = storage_kind == "s3"

    form = _upload(client, account, long_wav).json()
    created = client.post(
        "/api/media/uploads", headers=account.headers, json={"filename": "long.wav", "size": len(data)}
    ).json()
    resumable = client.patch(
        created["upload_url"], headers={**account.headers, "Upload-Offset": "0"}, content=data
    ).json()["media"]
    for media in (form, resumable):
        assert (media["file_type"], media["audio_codec"], media["status"]) == ("audio", "pcm_s16le", "ready")
        assert abs(media["duration"] - 60.0) < 0.01 and media["file_size"] == len(data)
    assert len(reads) == (0 if remote else 2)

    video = _upload(client, account, media_files["clip"]).json()
    assert video["file_type"] == "video" and video["has_thumbnail"]
    assert len(reads) == (1 if remote else 3)  # the thumbnail's frame comes from storage

    # a window too small for ffprobe: it is noticed, and the stored object answers
    monkeypatch.setattr(uploads_module, "WindowCollector", lambda: WindowCollector(512, 0))
    small = _upload(client, account, long_wav).json()
    assert (small["file_type"], small["audio_codec"], small["duration"]) == ("audio", "pcm_s16le", form["duration"])
    assert len(reads) == (2 if remote else 4)


@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_twenty_concurrent_uploads_never_exceed_the_quota(
    core, make_account, media_files, tiny_plan, live_server
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    account = make_account()
    tone = media_files["tone"]
    size = tone.stat().st_size
    limit = 10 * size + size // 2  # room for ten (each reserves a little more: its multipart body)
    tiny_plan(account.email, storage=limit)

    def upload(i: int) -> httpx.Response:
        with open(tone, "rb") as fh:
            return httpx.post(
                f"{live_server.url}/api/media/upload",
                headers=account.headers,
                files={"file": (f"tone-{i}.wav", fh, "audio/wav")},
                timeout=60,
            )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(upload, range(20)))
    ok = [a for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code == 402]
    assert len(ok) + len(refused) == 20, [a.text for a in answers if a.status_code not in (201, 402)]
    assert 1 <= len(ok) <= 10 and refused
    error = refused[0].json()["error"]
    assert error["code"] == "storage_quota_exceeded" and error["limit"] == limit
    assert "upgrade" in error["message"] and "left" in error["message"]
    usage = httpx.get(f"{live_server.url}/api/users/usage", headers=account.headers).json()
    assert usage["storage"]["used_bytes"] == len(ok) * size <= limit
    assert usage["uploads"]["in_progress"] == 0
    objects, uploads = stored(core)
    assert len(objects) == len(ok) and uploads == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_damaged_file_that_looks_like_media_is_refused_with_422(
    client, core, make_account, media_files, tmp_path
) -> None:
    """An MP4 cut off before its moov: its first bytes say MP4, ffprobe cannot read it. On S3 the
    window's probe fails too, and the stored object's probe gives the refusal; nothing is kept."""
    account = make_account()
    clip = media_files["clip"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip[: clip.rindex(b"moov") - 4])
    refused = _upload(client, account, cut)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "input_corrupt" and "'cut.mp4'" in error["message"]
    assert client.get("/api/media", headers=account.headers).json()["total"] == 0
    assert stored(core) == ([], [])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_media_longer_than_the_plan_allows_is_refused_with_402(
    client, core, make_account, media_files, tiny_plan
) -> None:
    account = make_account()
    tiny_plan(account.email, duration=1)
    refused = _upload(client, account, media_files["clip"])
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "media_too_long" and error["limit"] == 1 and "upgrade" in error["message"]
    assert client.get("/api/media", headers=account.headers).json()["total"] == 0
    assert stored(core) == ([], [])


@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_projects_with_ordered_segments(client, core, make_account, media_files, tiny_plan) -> None:
    account = make_account()
    tiny_plan(account.email, projects=2)
    clip = _upload(client, account, media_files["clip"]).json()
    tone = _upload(client, account, media_files["tone"]).json()
    created = client.post(
        "/api/projects",
        headers=account.headers,
        json={
            "name": "Trailer",
            "description": "cut",
            "segments": [
                {"media_id": clip["id"], "start": 0.5, "end": 1.5, "transformations": {"volume": 0.5, "rotate": 90}},
                {"media_id": tone["id"], "track": "audio", "transformations": {"duck": True}},
            ],
        },
    )
    assert created.status_code == 201, created.text
    p = created.json()
    assert [(s["track"], s["position"]) for s in p["segments"]] == [("audio", 0), ("main", 0)]
    assert p["duration"] == 1.0
    pid = p["id"]
    added = client.post(
        f"/api/projects/{pid}/segments",
        headers=account.headers,
        json={"media_id": clip["id"], "start": 0, "end": 0.5, "position": 0},
    ).json()
    main = [s for s in added["segments"] if s["track"] == "main"]
    assert [s["start"] for s in main] == [0.0, 0.5] and added["duration"] == 1.5
    order = [main[1]["id"], main[0]["id"]]
    reordered = client.put(
        f"/api/projects/{pid}/segments/order", headers=account.headers, json={"segment_ids": order}
    ).json()
    assert [s["id"] for s in reordered["segments"] if s["track"] == "main"] == order
    bad_order = client.put(
        f"/api/projects/{pid}/segments/order", headers=account.headers, json={"segment_ids": order[:1]}
    )
    assert bad_order.status_code == 422
    changed = client.put(
        f"/api/projects/{pid}/segments/{order[0]}",
        headers=account.headers,
        json={"end": 2.0, "transformations": {"flip": "h"}},
    ).json()
    seg = next(s for s in changed["segments"] if s["id"] == order[0])
    assert seg["end"] == 2.0 and seg["transformations"] == {"flip": "h"}
    for body in (
        {"end": 0.1, "start": 0.2},
        {"end": 99.0},
        {"transformations": {"explode": True}},
        {"transformations": {"rotate": 45}},
    ):
        assert (
            client.put(f"/api/projects/{pid}/segments/{order[0]}", headers=account.headers, json=body).status_code
            == 422
        )
    removed = client.delete(f"/api/projects/{pid}/segments/{order[0]}", headers=account.headers).json()
    assert [(s["position"], s["id"]) for s in removed["segments"] if s["track"] == "main"] == [(0, order[1])]
    renamed = client.put(
        f"/api/projects/{pid}", headers=account.headers, json={"name": "Final", "status": "active"}
    ).json()
    assert (renamed["name"], renamed["status"]) == ("Final", "active")
    assert client.put(f"/api/projects/{pid}", headers=account.headers, json={"status": "nope"}).status_code == 422
    listed = client.get("/api/projects", headers=account.headers).json()
    assert listed["total"] == 1 and listed["projects"][0]["segment_count"] == 2
    # media in a project cannot be deleted
    in_use = client.delete(f"/api/media/{clip['id']}", headers=account.headers)
    assert in_use.status_code == 409 and "Final" in in_use.json()["error"]["message"]
    # the plan's project limit
    assert client.post("/api/projects", headers=account.headers, json={"name": "two"}).status_code == 201
    third = client.post("/api/projects", headers=account.headers, json={"name": "three"})
    assert third.status_code == 402 and third.json()["error"]["code"] == "project_quota_exceeded"
    assert client.get("/api/users/usage", headers=account.headers).json()["projects"] == {"used": 2, "limit": 2}
    assert client.delete(f"/api/projects/{pid}", headers=account.headers).status_code == 204
    assert client.delete(f"/api/media/{clip['id']}", headers=account.headers).status_code == 204


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_ready_checks_storage(client, core, tmp_path) -> None:
    assert client.get("/ready").json()["checks"] == {"database": "ok", "storage": "ok"}
    assert core.library is not None
    core.library.storage.root = tmp_path / "file"  # type: ignore[attr-defined]
    (tmp_path / "file").write_text("not a folder")
    core.library.storage.objects = tmp_path / "file" / "objects"  # type: ignore[attr-defined]
    answer = client.get("/ready")
    assert answer.status_code == 503 and answer.json()["checks"]["storage"] == "failed"
