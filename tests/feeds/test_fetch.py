"""Fetching against a real loopback HTTP server: conditional requests, retries, bounds, cache."""

from __future__ import annotations

import email.utils
import gzip
import io
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from blacklist.fetch import Fetcher, FetchError, FetchPolicy, retry_after, unpack

from .support import FeedServer, Route

BODY = b"# test feed\n198.51.100.7\npool.example.org\n"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def fetcher(tmp_path: Path, client: httpx.Client, **policy: float) -> tuple[Fetcher, list[float]]:
    """A fetcher whose waits are recorded and skipped (the clock jumps instead)."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    def clock() -> float:
        return time.monotonic() + sum(waits)

    pol = FetchPolicy(**{"timeout": 5.0, "total": 30.0, "retries": 3, "backoff": 0.5, **policy})
    return Fetcher(tmp_path / "cache", client, pol, sleep=sleep, clock=clock), waits


def test_200_then_304_with_etag(server: FeedServer, client: httpx.Client, tmp_path: Path) -> None:
    server.routes["/f.txt"] = Route(BODY, etag='"v1"')
    f, _ = fetcher(tmp_path, client)
    first = f.fetch("feed", server.url("/f.txt"))
    assert (first.status, first.not_modified, first.body, first.etag) == (200, False, BODY, '"v1"')
    second = f.fetch("feed", server.url("/f.txt"))
    assert (second.status, second.not_modified, second.body) == (304, True, BODY)
    assert server.requests[0].headers.get("If-None-Match") is None
    assert server.requests[1].headers["If-None-Match"] == '"v1"'
    assert [r.status for r in server.requests] == [200, 304]
    # the feed changes upstream: a new ETag means a full answer again
    server.routes["/f.txt"] = Route(BODY + b"203.0.113.5\n", etag='"v2"')
    third = f.fetch("feed", server.url("/f.txt"))
    assert (third.status, third.not_modified) == (200, False)
    assert third.body.endswith(b"203.0.113.5\n")


def test_200_then_304_with_last_modified(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    stamp = datetime(2024, 4, 30, 12, 0, tzinfo=UTC)
    server.routes["/lm.txt"] = Route(BODY, last_modified=stamp)
    f, _ = fetcher(tmp_path, client)
    assert f.fetch("lm", server.url("/lm.txt")).status == 200
    again = f.fetch("lm", server.url("/lm.txt"))
    assert (again.status, again.not_modified, again.body) == (304, True, BODY)
    assert server.requests[1].headers["If-Modified-Since"] == "Tue, 30 Apr 2024 12:00:00 GMT"
    assert "If-None-Match" not in server.requests[1].headers


def test_cache_survives_a_new_fetcher_but_not_a_moved_url(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.routes["/a"] = Route(BODY, etag='"x"')
    server.routes["/b"] = Route(BODY, etag='"x"')
    fetcher(tmp_path, client)[0].fetch("src", server.url("/a"))
    assert fetcher(tmp_path, client)[0].fetch("src", server.url("/a")).not_modified
    moved = fetcher(tmp_path, client)[0].fetch("src", server.url("/b"))
    assert moved.status == 200 and "If-None-Match" not in server.requests[-1].headers
    # a corrupted cached body is never revalidated (its SHA-256 no longer matches)
    (tmp_path / "cache" / "src.body").write_bytes(b"garbage")
    assert fetcher(tmp_path, client)[0].fetch("src", server.url("/b")).status == 200


def test_retries_on_500_then_success(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.routes["/flaky"] = Route(BODY, script=[500, 503])
    f, waits = fetcher(tmp_path, client)
    got = f.fetch("flaky", server.url("/flaky"))
    assert got.body == BODY and got.attempts == 3
    assert [r.status for r in server.requests] == [500, 503, 200]
    assert waits == [0.5, 1.0]  # exponential backoff


def test_retries_exhausted_and_404_fails_at_once(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.routes["/down"] = Route(BODY, script=[502] * 10)
    f, waits = fetcher(tmp_path, client, retries=2)
    with pytest.raises(FetchError, match=r"HTTP 502.*retries exhausted after 3") as exc:
        f.fetch("down", server.url("/down"))
    assert exc.value.status == 502 and waits == [0.5, 1.0]
    with pytest.raises(FetchError, match="HTTP 404") as missing:
        f.fetch("gone", server.url("/nothing-here"))
    assert missing.value.status == 404 and missing.value.attempts == 1


def test_backoff_stops_at_the_time_budget(
    server: FeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    server.routes["/down"] = Route(BODY, script=[500] * 10)
    f, waits = fetcher(tmp_path, client, retries=10, backoff=4.0, total=10.0)
    with pytest.raises(FetchError, match="time budget exhausted"):
        f.fetch("down", server.url("/down"))
    assert waits == [4.0]  # the next wait (8 s) would pass the 10 s budget


def test_timeout(server: FeedServer, client: httpx.Client, tmp_path: Path) -> None:
    server.routes["/slow"] = Route(BODY, delay=1.5)
    f = Fetcher(tmp_path, client, FetchPolicy(timeout=0.3, total=5.0, retries=1, backoff=0.01))
    with pytest.raises(FetchError, match=r"timeout.*after 2 attempts") as exc:
        f.fetch("slow", server.url("/slow"))
    assert exc.value.status is None


@pytest.mark.parametrize("no_length", [False, True])
def test_oversized_body(
    server: FeedServer, client: httpx.Client, tmp_path: Path, no_length: bool
) -> None:
    server.routes["/big"] = Route(b"x" * 300_000, no_length=no_length)
    f, _ = fetcher(tmp_path, client, max_bytes=100_000)
    what = "body exceeds" if no_length else "Content-Length 300000 exceeds"
    with pytest.raises(FetchError, match=what):
        f.fetch("big", server.url("/big"))
    deadline = time.monotonic() + 5  # the server logs a request after answering it
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(server.requests) == 1  # not retried
    assert not (tmp_path / "cache" / "big.body").exists()


def test_local_paths_and_file_urls(tmp_path: Path, client: httpx.Client) -> None:
    feed = tmp_path / "local feed.txt"
    feed.write_bytes(BODY)
    f, _ = fetcher(tmp_path, client, max_bytes=1000)
    assert f.fetch("local", str(feed)).body == BODY
    assert f.fetch("local", feed.as_uri()).body == BODY
    assert f.fetch("local", feed.as_uri()).status is None
    with pytest.raises(FetchError, match="cannot read"):
        f.fetch("local", str(tmp_path / "missing.txt"))
    feed.write_bytes(b"y" * 2000)
    with pytest.raises(FetchError, match="exceed"):
        f.fetch("local", str(feed))


def test_unpack_tar_member_and_gzip() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("cryptojacking/domains", BODY), ("cryptojacking/urls", b"x/y\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert unpack(buf.getvalue(), "cryptojacking/domains", 1000) == BODY
    assert unpack(buf.getvalue(), "domains", 1000) == BODY  # a suffix after '/' matches
    with pytest.raises(FetchError, match="no member"):
        unpack(buf.getvalue(), "cryptojacking/nope", 1000)
    with pytest.raises(FetchError, match="exceed"):
        unpack(buf.getvalue(), "cryptojacking/domains", 10)
    with pytest.raises(FetchError, match="tar"):
        unpack(b"not a tarball", "x", 1000)
    assert unpack(gzip.compress(BODY), None, 1000) == BODY
    with pytest.raises(FetchError, match="gunzipped body exceeds"):
        unpack(gzip.compress(b"z" * 5000), None, 1000)
    assert unpack(BODY, None, 1000) == BODY


def test_retry_after_header_values() -> None:
    assert retry_after("120") == 120.0
    assert retry_after(None) == retry_after("") == retry_after("soon") == 0.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 < retry_after(later) <= 90
