"""Rendered bodies per (snapshot version, format, type, since) with a strong ETag.

A body is rendered once, hashed while it is written (ETag = `"<sha256>"`, also the checksum
URL's answer) and kept in memory when small, else as a file in the cache directory that
requests stream from. The most recently used `keep` bodies stay; older files are deleted.
Rendering a 1M-entry list takes seconds, serving a cached one is a file read, so a poll that
finds the list unchanged (304) costs a dictionary lookup.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from blacklist.render import get_format
from blacklist.render.model import Meta, diff_elements
from blacklist.render.snapshot import Snapshot, SnapshotStore

MEMORY_MAX = 1 << 20  # bodies up to 1 MiB stay in memory
CHUNK = 1 << 20

Key = tuple[str, str, str, str]  # (version, format, type, since)


@dataclass(frozen=True, slots=True)
class Body:
    version: str
    media_type: str
    sha256: str
    size: int
    md5: str = ""  # Cisco FMC custom feeds want an MD5 checksum URL
    data: bytes | None = None  # small bodies
    path: Path | None = None  # large bodies

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            while block := fh.read(size):
                yield block


def write_body(chunks: Iterator[str], directory: Path) -> tuple[str, str, int, bytes | None, Path]:
    """Encode and hash `chunks` into a file in `directory`;
    (sha256, md5, size, data if small, path)."""
    h = hashlib.sha256()
    h5 = hashlib.md5(usedforsecurity=False)
    size = 0
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".body-")
    with os.fdopen(fd, "wb") as fh:
        for text in chunks:
            raw = text.encode()
            h.update(raw)
            h5.update(raw)
            size += len(raw)
            fh.write(raw)
    digest = h.hexdigest()
    path = directory / f"{digest}.body"
    os.replace(tmp, path)
    data = path.read_bytes() if size <= MEMORY_MAX else None
    return digest, h5.hexdigest(), size, data, path


class RenderCache:
    """Renders through `FORMATS` on demand and keeps the last `keep` bodies."""

    def __init__(self, store: SnapshotStore, directory: Path | None = None, keep: int = 64
                 ) -> None:  # fmt: skip
        self.store = store
        if directory is None:  # a private directory, removed with the cache (or at exit)
            directory = Path(tempfile.mkdtemp(prefix="minewatch-lists-"))
            weakref.finalize(self, shutil.rmtree, directory, ignore_errors=True)
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._bodies: OrderedDict[Key, Body] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0
        store.on_new.append(self._prerender)

    def _prerender(self, new: Snapshot, old: Snapshot | None) -> None:
        """Render, for a new snapshot, every full body that was asked for the previous one
        (runs in the thread that computed the snapshot: pollers then find it warm)."""
        if old is None:
            return
        wanted = [
            (f, t) for (v, f, t, since) in list(self._bodies) if v == old.version and not since
        ]
        for fmt, ltype in wanted:
            self._render(new, fmt, ltype, None)

    def cached(self, fmt: str, ltype: str) -> Body | None:
        """The full body for the current list if already rendered (no DB read but the
        rate-limited head poll, no rendering): the 304 fast path."""
        snap = self.store.fresh()
        if snap is None:
            return None
        return self._bodies.get((snap.version, fmt, ltype, ""))

    def body(self, fmt: str, ltype: str, since: str | None = None) -> Body:
        """The current list in `fmt`/`ltype`, full or as a diff from version `since`.
        Raises `RenderError` (bad request) or `SinceError` (unknown `since`)."""
        get_format(fmt, ltype, diff=since is not None)
        return self._render(self.store.current(), fmt, ltype, since)

    def _render(self, snap: Snapshot, fmt: str, ltype: str, since: str | None) -> Body:
        format_, kind = get_format(fmt, ltype, diff=since is not None)
        key: Key = (snap.version, format_.name, str(kind), since or "")
        found = self._bodies.get(key)
        if found is not None:
            return found
        old: Snapshot | None = self.store.by_version(since) if since is not None else None
        with self._lock:
            found = self._bodies.get(key)
            if found is not None:
                return found
            new = snap.members[kind]
            if old is None:
                meta = Meta(snap.version, kind, len(new), serial=snap.serial)
                chunks = format_.render(new, meta)
            else:
                added, removed = diff_elements(format_, old.members[kind], new, kind)
                meta = Meta(snap.version, kind, len(new), since=old.version, serial=snap.serial)
                chunks = format_.render_diff(added, removed, meta)
            digest, md5, size, data, path = write_body(chunks, self.directory)
            body = Body(snap.version, format_.media_type, digest, size, md5, data,
                        None if data is not None else path)  # fmt: skip
            self.renders += 1
            self._bodies[key] = body
            self._evict()
            return body

    def _evict(self) -> None:
        while len(self._bodies) > self.keep:
            _, gone = self._bodies.popitem(last=False)
            if gone.path is not None and all(b.path != gone.path for b in self._bodies.values()):
                gone.path.unlink(missing_ok=True)
        live = {b.sha256 for b in self._bodies.values() if b.path is not None}
        for p in self.directory.glob("*.body"):
            if p.stem not in live:
                p.unlink(missing_ok=True)
