"""Uploaded media must never make the server fetch anything: no URL on the network, no file on
its disk (issue 12, item 1). A file that starts with an ID3 tag followed by an HLS playlist made
ffprobe fetch the playlist's segments: over HTTP on S3 (a listener on loopback got GETs), and
from the server's disk on the local backend (a ``file:///`` segment turned a 719-byte upload
into a 2 s video whose thumbnail was a frame of a file on the server).

Both uploads are refused now, on both storage backends, by two defences that are tested apart:
the sniffer (an ID3 tag must be followed by audio), and the rules every ffmpeg/ffprobe run reads
media under (``ffmpeg.media_input``: our container families only, no playlists, one protocol).
The second is tested here with the sniffer fooled into accepting the file."""

from __future__ import annotations

import pytest

import mediaenhancer_core.library.uploads as uploads
from tests.server.media_support import stored
from tests.ssrf_support import Listener, playlist, server_secret


@pytest.fixture
def core(media_core):
    return media_core


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


class _Fooled:
    """A sniffer that takes anything for MP3: as if the first defence had a hole."""

    decided, family = True, "mp3"

    def feed(self, data: bytes) -> bool:
        return True

    def finish(self) -> str:
        return "mp3"


@pytest.fixture(params=["sniffer", "ffmpeg-rules"])
def defence(request, monkeypatch) -> str:
    """Which defence is under test: with "ffmpeg-rules" the sniffer accepts the file."""
    if request.param == "ffmpeg-rules":
        monkeypatch.setattr(uploads, "Sniffer", _Fooled)
        monkeypatch.setattr(uploads, "sniff_reader", lambda read: "mp3")
    return str(request.param)


def _upload(client, account, data: bytes, name: str):
    return client.post("/api/media/upload", headers=account.headers, files={"file": (name, data, "audio/mpeg")})


def _refused(answer, defence: str) -> None:
    if defence == "sniffer":
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"]["code"] == "input_not_media"
    else:  # sniffed as MP3, then no demuxer of ours could read it
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "input_corrupt"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_id3_tagged_playlist_with_an_http_segment_fetches_nothing(
    client, core, make_account, listener, defence
) -> None:
    account = make_account()
    answer = _upload(client, account, playlist(listener.url("/x.ts")), "x.mp3")
    assert listener.requests == []
    _refused(answer, defence)
    assert client.get("/api/media", headers=account.headers).json()["total"] == 0
    assert stored(core) == ([], [])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_id3_tagged_playlist_with_a_file_segment_reads_no_server_file(
    client, core, make_account, tmp_path, listener, defence
) -> None:
    account = make_account()
    secret = server_secret(tmp_path / "server-private")
    body = playlist(f"file://{secret}")
    assert 600 < len(body) < 1000  # the 719-byte upload
    answer = _upload(client, account, body, "x.mp3")
    listed = client.get("/api/media", headers=account.headers).json()
    assert listed["total"] == 0, listed  # no 2 s "video" made of the server's file
    assert stored(core) == ([], [])  # and no thumbnail of it
    _refused(answer, defence)
    # both at once: a file segment first, an http one next
    again = _upload(client, account, playlist(f"file://{secret}", listener.url("/y.ts")), "y.mp3")
    _refused(again, defence)
    assert listener.requests == []
    assert stored(core) == ([], [])


def _id3(size: int) -> bytes:
    """An ID3v2.4 tag with ``size`` bytes of body (a cover picture, say)."""
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + b"P" * size


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_long_id3_tag_is_judged_by_what_follows_it_even_across_requests(
    client, core, make_account, tmp_path, listener
) -> None:
    """A resumable upload whose first request ends inside a 300 kB tag: the bytes after the tag are
    read back from storage when the upload finishes. MP3 audio there is accepted; a playlist is not."""
    import subprocess

    from tests import media as M

    account = make_account()
    plain = tmp_path / "plain.mp3"
    subprocess.run(
        [
            M.FFMPEG,
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=2",
            "-c:a",
            "libmp3lame",
            "-write_id3v2",
            "0",
            str(plain),
        ],
        check=True,
    )
    tagged = _id3(300_000) + plain.read_bytes()
    hidden = _id3(300_000) + playlist(listener.url("/z.ts"))[10:]
    for name, data, accepted in (("song.mp3", tagged, True), ("hidden.mp3", hidden, False)):
        up = client.post(
            "/api/media/uploads", headers=account.headers, json={"filename": name, "size": len(data)}
        ).json()
        first = client.patch(
            up["upload_url"], headers={**account.headers, "Upload-Offset": "0"}, content=data[:100_000]
        )
        assert first.status_code == 200, first.text  # nothing to judge yet: still inside the tag
        offset = first.json()["offset"]
        rest = client.patch(
            up["upload_url"], headers={**account.headers, "Upload-Offset": str(offset)}, content=data[offset:]
        )
        if accepted:
            assert rest.status_code == 200 and rest.json()["complete"], rest.text
            media = rest.json()["media"]
            assert (media["file_type"], media["audio_codec"]) == ("audio", "mp3")
        else:
            assert rest.status_code == 415, rest.text
    assert listener.requests == []
    listed = client.get("/api/media", headers=account.headers).json()
    assert [m["filename"] for m in listed["media"]] == ["song.mp3"]
