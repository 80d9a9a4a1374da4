"""Block-list files for routers and firewalls, written atomically.

A file is the same body `GET /v1/blocklist` serves (`blacklist.render.cache.RenderCache`), so
the file, the HTTP answer and its ETag agree byte for byte. Writing: a temporary file in the
target's directory, fsync, `os.replace`, fsync of the directory — a reader (a cron job running
`nft -f`, an rsync to the router) sees the old file or the new one, never half of one. A body
equal to what the file already holds leaves the file untouched (mtime kept), so watchers that
reload on change do nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blacklist.render import get_format
from blacklist.render.cache import RenderCache


class ExportError(ValueError):
    """An export job that cannot run (bad format/type, unwritable path): names the job."""


@dataclass(frozen=True, slots=True)
class FileJob:
    """One file to keep current: the list `ltype` in format `fmt` at `out`."""

    fmt: str
    ltype: str
    out: Path

    def check(self) -> FileJob:
        """Validate format × type now (a config error must stop start-up, not the 3rd run)."""
        try:
            get_format(self.fmt, self.ltype)
        except ValueError as exc:
            raise ExportError(f"export to {self.out}: {exc}") from exc
        if not self.out.parent.is_dir():
            raise ExportError(f"export to {self.out}: directory {self.out.parent} does not exist")
        return self


@dataclass(frozen=True, slots=True)
class Written:
    """What one export did: the list version and body checksum, and whether the file changed."""

    job: FileJob
    version: str
    sha256: str
    size: int
    changed: bool

    def line(self) -> str:
        state = "written" if self.changed else "unchanged"
        return (
            f"{self.job.out}: {state} version {self.version} sha256 {self.sha256} "
            f"({self.size} bytes)"
        )


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's content, None when it does not exist."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return None
    h = hashlib.sha256()
    with fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def write_atomic(path: Path, chunks: Iterable[bytes], sha256: str | None = None) -> bool:
    """Replace `path` with `chunks` atomically; False (file untouched) when the content is
    the same. `sha256` of the new content, when known, saves reading it twice."""
    if sha256 is not None and file_sha256(path) == sha256:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh:
            for block in chunks:
                h.update(block)
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        if sha256 is None and file_sha256(path) == h.hexdigest():
            os.unlink(tmp)
            return False
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
    return True


def export(cache: RenderCache, job: FileJob) -> Written:
    """Write the current list for `job` (rendered or taken from the cache)."""
    try:
        body = cache.body(job.fmt, job.ltype)
    except ValueError as exc:
        raise ExportError(f"export to {job.out}: {exc}") from exc
    changed = write_atomic(job.out, body.chunks(), body.sha256)
    return Written(job, body.version, body.sha256, body.size, changed)


def jobs_from_config(items: Iterable[Mapping[str, Any]]) -> list[FileJob]:
    """`[{format: nft, type: ip, out: /path}, ...]` (the `exports` setting) as checked jobs."""
    jobs: list[FileJob] = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise ExportError(f"exports[{i}]: expected a mapping with format, type, out")
        unknown = set(item) - {"format", "type", "out"}
        if unknown:
            raise ExportError(f"exports[{i}]: unknown keys {', '.join(sorted(map(str, unknown)))}")
        fmt, ltype, out = item.get("format"), item.get("type", "ip"), item.get("out")
        if not isinstance(fmt, str) or not isinstance(ltype, str) or not isinstance(out, str):
            raise ExportError(f"exports[{i}]: format, type and out must be strings")
        jobs.append(FileJob(fmt, ltype, Path(out)).check())
    outs = [j.out.resolve() for j in jobs]
    if len(set(outs)) != len(outs):
        raise ExportError("two exports write the same file")
    return jobs
