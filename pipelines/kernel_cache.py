"""Where the compiled kernels are cached, and when a cached kernel is stale.

numba's own cache (`cache=True`) stamps a kernel with its own source file only. But a kernel
inlines the kernels it calls from other modules (`be16` into the packet decoder, the flow-key
hash into the flow update, `read_head` into the name screen) and freezes the module globals it
reads as constants. After a change to one of those (an upgrade, a `git pull`) numba went on
loading the old machine code: a changed `be16` left `decode_records` decoding the old way until
the cache was deleted by hand. This locator stamps a kernel with its module and every project
module that module imports, directly or not (`pipelines`, `detector`, `blacklist`; read from the
import statements, conditional ones too, so the set can only be too large). A change to any of
them compiles the kernel again; a change elsewhere (most of the Python) compiles nothing.

It also decides where the cache lives, so that a service user who cannot write the install
tree still has one: `NUMBA_CACHE_DIR`, else `kernels` in systemd's `CACHE_DIRECTORY`
(`CacheDirectory=` in the unit), else `minewatch/kernels` in `$XDG_CACHE_HOME` or `~/.cache`,
else a private directory in the temp dir; the first writable one wins.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from numba.core.caching import _CacheLocator

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "detector", "blacklist")
# `from a.b import c, d` (or a parenthesised list over several lines) and `import a.b`
_FROM = re.compile(r"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+(?:\(([^)]*)\)|([^\n]*))", re.M)
_PLAIN = re.compile(r"^[ \t]*import[ \t]+([\w.]+)", re.M)
_COMMENT = re.compile(r"#[^\n]*")


@cache
def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name → source file of every project module (a package is its `__init__.py`)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@cache
def _files() -> frozenset[Path]:
    return frozenset(modules().values())


@cache
def _imports(name: str, root: Path = ROOT) -> frozenset[str]:
    """The project modules `name` imports, with the packages whose `__init__` that runs."""
    known = modules(root)
    source = known[name].read_text(encoding="utf-8")
    targets = _PLAIN.findall(source)
    for base, listed, line in _FROM.findall(source):
        targets.append(base)
        for item in _COMMENT.sub("", listed or line).split(","):
            if item := item.split(" as ")[0].strip():
                targets.append(f"{base}.{item}")
    out: set[str] = set()
    for target in targets:
        parts = target.split(".")
        out.update(m for i in range(1, len(parts) + 1) if (m := ".".join(parts[:i])) in known)
    return frozenset(out)


@cache
def stamp(py_file: str, root: Path = ROOT) -> str:
    """A digest of `py_file` and of every project module it reaches by imports."""
    known = modules(root)
    by_path = {path: name for name, path in known.items()}
    start = by_path[Path(py_file).resolve()]
    seen, todo = {start}, [start]
    while todo:
        for dep in _imports(todo.pop(), root) - seen:
            seen.add(dep)
            todo.append(dep)
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(seen):
        h.update(name.encode() + b"\0" + known[name].read_bytes() + b"\0")
    return h.hexdigest()


def _candidates(env: Mapping[str, str], tmp: str) -> Iterator[tuple[Path, bool]]:
    """Cache roots in order of preference; True for the shared temp dir, which must be ours."""
    if env.get("NUMBA_CACHE_DIR"):
        yield Path(env["NUMBA_CACHE_DIR"]), False
    if env.get("CACHE_DIRECTORY"):  # systemd may list several, ':'-separated
        yield Path(env["CACHE_DIRECTORY"].split(":")[0]) / "kernels", False
    base = env.get("XDG_CACHE_HOME") or (f"{env['HOME']}/.cache" if env.get("HOME") else "")
    if base:
        yield Path(base) / "minewatch" / "kernels", False
    yield Path(tmp) / f"minewatch-kernels-{os.getuid()}", True


def choose_root(env: Mapping[str, str], tmp: str) -> Path | None:
    """The first usable cache root, made if missing; None if there is none.

    A directory in the shared temp dir is used only if this user owns it and nobody else can
    write it: the cache holds pickles, which numba loads and runs."""
    for root, shared in _candidates(env, tmp):
        try:
            root.mkdir(mode=0o700, parents=not shared, exist_ok=True)
            st = root.lstat()
            if shared and (
                not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022
            ):
                continue
            tempfile.TemporaryFile(dir=root).close()
        except OSError:
            continue
        return root
    return None


@cache
def cache_root() -> Path | None:
    return choose_root(os.environ, tempfile.gettempdir())


class KernelLocator(_CacheLocator):
    """numba's locator interface for the project's kernels (others: None, numba's own)."""

    def __init__(self, root: Path, lineno: int, py_file: str) -> None:
        self._lineno = lineno
        self._py_file = py_file
        self._path = str(root / self.get_suitable_cache_subpath(py_file))  # type: ignore[no-untyped-call]

    def get_cache_path(self) -> str:
        return self._path

    def get_source_stamp(self) -> str:
        return stamp(self._py_file)

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> KernelLocator | None:
        if Path(py_file).resolve() not in _files():
            return None
        root = cache_root()
        if root is None:
            return None
        self = cls(root, py_func.__code__.co_firstlineno, py_file)
        try:
            self.ensure_cache_path()  # type: ignore[no-untyped-call]
        except OSError:
            return None
        return self
