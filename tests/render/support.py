"""Test support for served block lists: list versions written through the real version store,
a real uvicorn server on loopback, API keys, and small readers that parse each format back."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from blacklist.entries import Category, Entry
from blacklist.syntax import parse_item
from blacklist.versions import commit_source, unique_entries
from tests.live import ServerThread

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def entries(values: Iterable[str], source: str = "feed-a", category: Category = Category.POOL,
            confidence: float = 0.7) -> list[Entry]:  # fmt: skip
    return [parse_item(v, source=source, category=category, confidence=confidence)
            for v in values]  # fmt: skip


def commit(engine: Engine, source: str, items: Sequence[Entry], at: datetime = T0,
           expires: dict[Any, datetime] | None = None) -> int | None:  # fmt: skip
    """Make `items` the live content of `source`; returns the new version id (None: no change)."""
    with Session(engine) as session, session.begin():
        return commit_source(session, source, unique_entries(items), now=at,
                             expires=expires).version_id  # fmt: skip


class Server:
    """`create_app` served by a real uvicorn on a free loopback port, in a thread."""

    def __init__(self, engine: Engine, url: str) -> None:
        from api.app import create_app
        from api.config import Settings

        settings = Settings.model_validate({"env": "dev", "db_url": url, "key_cache_seconds": 0.5})
        app = create_app(settings, engine)
        self.app = app
        self.live = ServerThread(app, lifespan="off")
        base = self.live.__enter__()
        self.port = int(base.rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.port}/v1"

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=120)

    def close(self) -> None:
        self.live.__exit__(None, None, None)


# --- readers: parse a rendering back into its member values (for round-trip properties) ---


def body_lines(text: str, comment: str = "#") -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith(comment)]


def read_txt(text: str) -> set[str]:
    return set(body_lines(text))


def read_csv(text: str) -> set[str]:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    return {r["value"] for r in rows}


def read_json(text: str) -> set[str]:
    return {e["value"] for e in json.loads(text)["entries"]}


def read_edl(text: str) -> set[str]:
    out = set()
    for ln in body_lines(text):
        first = ln.split(" ", 1)[0]
        assert len(ln) <= 255, ln
        out.add(first.removeprefix("^").removeprefix("*."))
    return out


def _ep_value(addr: str, proto: str, port: str) -> tuple[str, str, str]:
    return (str(ipaddress.ip_address(addr)), proto, port)


def read_ipset(text: str) -> set[Any]:
    """Elements added to the `-new` sets: networks for hash:net, (addr, proto, port) tuples."""
    out: set[Any] = set()
    for ln in body_lines(text):
        if ln.startswith("add "):
            elem = ln.split(" ")[2]
            if "," in elem:
                addr, _, pp = elem.partition(",")
                proto, _, port = pp.partition(":")
                out.add(_ep_value(addr, proto, port))
            else:
                out.add(ipaddress.ip_network(elem))
    return out


_NFT_ITEM = re.compile(r'([0-9a-f.:/]+(?: \. \w+ \. \d+)?) comment "[^"]*"')


def read_nft(text: str) -> set[Any]:
    out: set[Any] = set()
    for ln in body_lines(text):
        if ln.startswith("add element"):
            for item in _NFT_ITEM.findall(ln[ln.index("{") :]):
                if " . " in item:
                    addr, proto, port = item.split(" . ")
                    out.add(_ep_value(addr, proto, port))
                else:
                    out.add(ipaddress.ip_network(item))
    return out


def read_mikrotik(text: str) -> set[Any]:
    out: set[Any] = set()
    for ln in body_lines(text):
        if not ln.startswith("add ") or "action=return" in ln:
            continue
        fields = dict(re.findall(r'(\S+?)=("[^"]*"|\S+)', ln))
        if "address" in fields:
            out.add(ipaddress.ip_network(fields["address"]))
        else:
            out.add(_ep_value(fields["dst-address"], fields["protocol"], fields["dst-port"]))
    return out


def expected_elements(values: Iterable[str], endpoint: bool) -> set[Any]:
    """What ipset/nft/mikrotik should hold for canonical values (any-proto = tcp + udp)."""
    out: set[Any] = set()
    for v in values:
        if not endpoint:
            out.add(ipaddress.ip_network(v))
            continue
        e = parse_item(v)
        assert e.network is not None
        protos = [{6: "tcp", 17: "udp"}[e.proto]] if e.proto else ["tcp", "udp"]
        for p in protos:
            out.add((str(e.network.network_address), p, str(e.port)))
    return out


def later(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)
