"""Benchmark `GET /v1/blocklist` on a 1M-entry list, SQLite and PostgreSQL, real uvicorn.

    .venv/bin/python bench/bench_blocklist.py [--entries 1000000] [--backends sqlite,postgresql]

A list version of N entries (80 % IPv4 /32, 10 % IPv4 prefixes, 10 % endpoints) is bulk-written
into `list_entries` (COPY on PostgreSQL), the API runs in its own uvicorn process on loopback,
and an export key is created. Figures, one line each:

- cold GET: the first `format=txt&type=ip` request (snapshot of the version + rendering);
- warm GET: best of 5 full GETs of the cached body (target ≤ 1 s), and the same file served by
  the peer (nginx when installed, else `python -m http.server`) — ratio printed;
- 304 path: `wrk` with a valid key and the current ETag (target ≥ 5,000 requests/s), and the
  peer's 304 for its own ETag; plus a bare ASGI app on the same uvicorn answering 304 (the
  framework floor: what any Python route could reach here).
Never fails; a missing peer or backend is reported and skipped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_URL = os.environ.get("MINEWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COLUMNS = ("source", "kind", "value", "port", "proto", "category", "confidence", "subdomains",
           "raw", "line", "first_seen", "last_seen", "expires", "from_version",
           "to_version")  # fmt: skip


def rows(n: int) -> Iterator[tuple[object, ...]]:
    """Distinct public values: 5.0.0.0 upwards (/32), 20.0.0.0/24 blocks, 31.x endpoints."""
    for i in range(n):
        r = i % 10
        if r < 8:
            a = (5 << 24) + i
            value, kind, port = (
                f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}",
                "ip",
                None,
            )
        elif r == 8:
            a = (20 << 24) + (i << 8)
            value = f"{a >> 24 & 255}.{(a >> 16) & 255}.{(a >> 8) & 255}.0/24"
            kind, port = "cidr", None
        else:
            a = (31 << 24) + i
            port = 3333 + i % 7
            value = f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}:{port}"
            kind = "endpoint"
        yield ("bench", kind, value, port, None, "pool", 0.7, False, value, i + 1)


def build(url: str, n: int) -> None:
    """Schema + one list version holding `n` entries, written in bulk."""
    import store.listmodels  # noqa: F401
    from blacklist.versions import ensure_schema
    from store.apikeys import ApiKeyRow
    from store.db import connect

    engine = connect(url)
    ensure_schema(engine)
    ApiKeyRow.metadata.create_all(engine)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if url.startswith("sqlite"):
            cur.execute("insert into list_versions (id, created, parent_id, sources, note, "
                        "entries, added, removed) values (1, ?, null, '{}', 'bench', ?, ?, 0)",
                        (now.isoformat(sep=" "), n, n))  # fmt: skip
            cur.executemany(
                f"insert into list_entries ({', '.join(COLUMNS)}) values ({', '.join('?' * 15)})",
                [(*r, now.isoformat(sep=" "), now.isoformat(sep=" "), None, 1, None)
                 for r in rows(n)],
            )  # fmt: skip
        else:
            cur.execute("insert into list_versions (id, created, parent_id, sources, note, "
                        "entries, added, removed) values (1, %s, null, '{}', 'bench', %s, %s, 0)",
                        (now, n, n))  # fmt: skip
            with cur.copy(f"copy list_entries ({', '.join(COLUMNS)}) from stdin") as copy:
                for r in rows(n):
                    copy.write_row((*r, now, now, None, 1, None))
        cur.execute("update list_head set version_id = 1 where id = 1")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def loop_options() -> tuple[str, str]:
    """uvicorn's fastest available loop and HTTP parser."""
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:
        http = "h11"
    return loop, http


SERVE = """
import sys, uvicorn
sys.path.insert(0, {root!r})
from api.app import create_app
from api.config import Settings
app = create_app(Settings(env="dev", db_url={url!r}, key_cache_seconds=60))
if {middleware!r}:
    from api.routes.blocklist import BlocklistFastPath
    app.add_middleware(BlocklistFastPath)
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", loop={loop!r},
            http={http!r}, access_log=False)
"""

FLOOR = """
import uvicorn
ETAG = b'"floor"'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    inm = dict(scope["headers"]).get(b"if-none-match")
    status = 304 if inm == ETAG else 200
    await send({{"type": "http.response.start", "status": status,
                "headers": [(b"etag", ETAG), (b"content-length", b"0")]}})
    await send({{"type": "http.response.body", "body": b""}})
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", loop={loop!r},
            http={http!r}, access_log=False)
"""


@contextmanager
def process(cmd: list[str], port: int, path: str = "/") -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                    raise RuntimeError(err) from None
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a running process (its peak resident set), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_get(url: str, headers: dict[str, str]) -> tuple[float, int, str]:
    """Wall time of a full GET read to the end, body size, ETag."""
    t0 = time.perf_counter()
    size = 0
    with httpx.stream("GET", url, headers=headers, timeout=600) as r:
        r.raise_for_status()
        for chunk in r.iter_raw(1 << 20):
            size += len(chunk)
        etag = r.headers.get("etag", "")
    return time.perf_counter() - t0, size, etag


def wrk(url: str, headers: dict[str, str], seconds: int = 5) -> float:
    """Requests/s by wrk (2 threads, 32 connections); every answer must be a 304."""
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        print(f"  wrk: {bad.group(1) if bad else '?'} answers were not 2xx/3xx")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else float("nan")


def peer_nginx(root: Path, port: int) -> list[str] | None:
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if exe is None:
        return None
    conf = root / "nginx.conf"
    conf.write_text(
        f"daemon off; worker_processes 1; pid {root}/nginx.pid; error_log stderr error;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{ access_log off; server {{ listen 127.0.0.1:{port}; root {root}; "
        f"client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; "
        f"fastcgi_temp_path {root}/fcgi; uwsgi_temp_path {root}/uwsgi; "
        f"scgi_temp_path {root}/scgi; }} }}\n"
    )
    return [exe, "-c", str(conf), "-p", str(root)]


def bench_backend(name: str, url: str, n: int, scratch: Path) -> None:
    from sqlalchemy import create_engine

    from store.apikeys import create_key

    t0 = time.perf_counter()
    build(url, n)
    print(f"{name}: {n:,} entries bulk-written in {time.perf_counter() - t0:.1f} s", flush=True)
    engine = create_engine(url)
    _, key = create_key(engine, "export", "bench")
    engine.dispose()
    loop, http = loop_options()
    auth = {"Authorization": f"Bearer {key}"}
    rates: dict[bool, float] = {}
    for middleware in (False, True):
        port = free_port()
        code = SERVE.format(root=str(ROOT), url=url, port=port, loop=loop, http=http,
                            middleware=middleware)  # fmt: skip
        base = f"http://127.0.0.1:{port}/v1/blocklist?format=txt&type=ip"
        label = "with BlocklistFastPath middleware" if middleware else "create_app as is"
        with process([sys.executable, "-c", code], port, "/v1/healthz") as server:
            cold, size, etag = timed_get(base, auth)
            print(f"{name}: cold GET (snapshot + render) {cold:6.2f} s, {size / 1e6:.1f} MB "
                  f"({loop}/{http}, {label})", flush=True)  # fmt: skip
            if not middleware:
                warm = min(timed_get(base, auth)[0] for _ in range(5))
                print(f"{name}: warm GET {warm * 1000:7.1f} ms  (target <= 1000 ms)", flush=True)
                body = httpx.get(base, headers=auth, timeout=600).content
            rates[middleware] = wrk(base, {**auth, "If-None-Match": etag})
            print(f"{name}: 304 path {rates[middleware]:8.0f} req/s with a valid key, {label} "
                  "(target >= 5000)", flush=True)  # fmt: skip
            if not middleware:
                print(f"{name}: server peak RSS {peak_rss_mb(server.pid):.0f} MB", flush=True)
    rps = rates[True]
    (scratch / "list.txt").write_bytes(body)
    scratch.chmod(0o755)  # nginx workers run unprivileged
    (scratch / "list.txt").chmod(0o644)
    peer_get, peer_rps, peer_name = float("nan"), float("nan"), "none"
    pport = free_port()
    cmd = peer_nginx(scratch, pport)
    if cmd is not None:
        peer_name = "nginx"
    else:
        peer_name = "http.server"
        cmd = [sys.executable, "-m", "http.server", str(pport), "-b", "127.0.0.1", "-d",
               str(scratch)]  # fmt: skip
    purl = f"http://127.0.0.1:{pport}/list.txt"
    with process(cmd, pport, "/list.txt"):
        peer_get = min(timed_get(purl, {})[0] for _ in range(5))
        petag = httpx.get(purl).headers.get("etag")
        if petag:
            peer_rps = wrk(purl, {"If-None-Match": petag})
    print(f"peer {peer_name}: warm GET {peer_get * 1000:7.1f} ms, 304 {peer_rps:8.0f} req/s")
    print(f"ratio minewatch/{peer_name} warm GET time: {warm / peer_get:.2f}; 304 rate: "
          f"{rates[False] / peer_rps:.2f} as is, "
          f"{rps / peer_rps:.2f} with the middleware")  # fmt: skip
    fport = free_port()
    floor = FLOOR.format(port=fport, loop=loop, http=http)
    with process([sys.executable, "-c", floor], fport):
        frps = wrk(f"http://127.0.0.1:{fport}/", {"If-None-Match": '"floor"'})
    print(f"bare ASGI 304 on the same uvicorn: {frps:8.0f} req/s; ratio minewatch/bare: "
          f"{rates[False] / frps:.2f} as is, {rps / frps:.2f} with the middleware",
          flush=True)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not installed: skipped (Debian package wrk)")
        return 0
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="mw-bench-bl-") as tmp:
            scratch = Path(tmp)
            if backend == "sqlite":
                bench_backend("sqlite", f"sqlite:///{scratch / 'bench.db'}", args.entries,
                              scratch)  # fmt: skip
                continue
            with pg_schema() as url:
                if url is None:
                    print("postgresql: no server, skipped")
                    continue
                bench_backend("postgresql", url, args.entries, scratch)
    return 0


@contextmanager
def pg_schema() -> Iterator[str | None]:
    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception:
        yield None
        return
    schema = f"bench_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    try:
        yield PG_URL + ("&" if "?" in PG_URL else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
