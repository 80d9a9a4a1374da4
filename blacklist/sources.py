"""The feed index as data (`sources.yaml`): what to fetch, how to parse it, what it means.

Like suricata-update's source index or intelmq's `feeds.yaml` (STYLE 8): code only for new
formats, everything else is a line of YAML. One source:

    - name: maltrail-crypto-mining          # [a-z0-9][a-z0-9._-]*, unique; shown on every hit
      url: https://raw.githubusercontent.com/...   # http(s):// or file://; or `path:` instead
      format: maltrail                      # a name in blacklist.parsers.PARSERS
      options: {}                           # parser settings (csv/json columns, paths)
      member: cryptojacking/domains         # optional: the file to read inside a tar(.gz)
      licence: MIT
      category: pool                        # pool, browser-miner, crypto-service, proxy, allowlist
      confidence: 0.6                       # default confidence of its entries, 0–1
      refresh: 12h                          # s/m/h/d/w suffix or seconds; a feed older than
                                            # 3× this is reported stale
      enabled: true
      public_only: true                     # false: private/documentation space is allowed
      min_fraction: 0.5                     # optional shrink guard override
      description: ...

A relative `path:` is relative to the index file. Loading validates everything and reports every
problem at once (`SourceError.problems`), so a typo in one source is found before a refresh.
Names `builtin`, `learned`, `manual` and `file:*` are reserved for the built-in list, learned and
analyst entries and `--blocklist` files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from blacklist.entries import Category
from blacklist.parsers import PARSERS, SourceMeta

DEFAULT_INDEX = Path(__file__).with_name("sources.yaml")
ENV_INDEX = "MINEWATCH_SOURCES"
RESERVED = frozenset({"builtin", "learned", "manual"})
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_KEYS = frozenset(
    {
        "name",
        "url",
        "path",
        "format",
        "options",
        "member",
        "licence",
        "category",
        "confidence",
        "refresh",
        "enabled",
        "public_only",
        "min_fraction",
        "description",
    }
)


class SourceError(ValueError):
    """The index cannot be used; `problems` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Source:
    """One feed: where it lives, how to parse it, what its entries mean."""

    name: str
    format: str
    url: str | None = None
    path: Path | None = None
    category: Category = Category.POOL
    confidence: float = 0.5
    licence: str = ""
    refresh: int = 86400  # seconds
    enabled: bool = True
    public_only: bool = True
    options: Mapping[str, str] = field(default_factory=dict)
    member: str | None = None
    min_fraction: float | None = None
    description: str = ""

    @property
    def location(self) -> str:
        """The URL, or the local path as text."""
        return self.url if self.url is not None else str(self.path)

    def meta(self) -> SourceMeta:
        """What the parser needs to know about this source."""
        return SourceMeta(
            name=self.name,
            category=self.category,
            confidence=self.confidence,
            public_only=self.public_only,
            options=dict(self.options),
        )


@dataclass(frozen=True, slots=True)
class SourceIndex:
    """The loaded index, in file order."""

    sources: tuple[Source, ...]
    path: Path | None = None

    def __iter__(self) -> Iterator[Source]:
        return iter(self.sources)

    def __len__(self) -> int:
        return len(self.sources)

    def get(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)


def parse_duration(value: object) -> int:
    """`90`, `"30m"`, `"6h"`, `"1d"`, `"2w"` → seconds (positive)."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value[-1:] in _UNITS and value[:-1].isdigit():
        seconds = int(value[:-1]) * _UNITS[value[-1]]
    elif isinstance(value, str) and value.isdigit():
        seconds = int(value)
    else:
        raise ValueError(f"not a duration (use 90, 30m, 6h, 1d, 2w): {value!r}")
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return seconds


def check_name(name: object) -> str:
    """A usable source name, or ValueError saying why not."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"bad source name {name!r} (use [a-z0-9][a-z0-9._-]*, ≤ 128 chars)")
    if name in RESERVED:
        raise ValueError(f"source name {name!r} is reserved")
    return name


def default_index_path() -> Path:
    return Path(os.environ[ENV_INDEX]) if os.environ.get(ENV_INDEX) else DEFAULT_INDEX


def load_index(path: Path | None = None, formats: Collection[str] | None = None) -> SourceIndex:
    """Read and validate an index file; `formats` defaults to the parser registry."""
    path = default_index_path() if path is None else path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError([f"cannot read source index {path}: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise SourceError([f"source index {path} is not valid YAML: {exc}"]) from exc
    return parse_index(data, base=path.parent, formats=formats, path=path)


def parse_index(
    data: object,
    *,
    base: Path | None = None,
    formats: Collection[str] | None = None,
    path: Path | None = None,
) -> SourceIndex:
    """Validate an already-parsed index document (`{"sources": [...]}`)."""
    formats = PARSERS.keys() if formats is None else formats
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise SourceError(["the index must be a mapping with a 'sources' list"])
    problems: list[str] = []
    sources: list[Source] = []
    seen: set[str] = set()
    for i, item in enumerate(data["sources"], 1):
        label = f"source #{i}"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            label = f"source {item['name']!r}"
        try:
            src = _source(item, base, formats)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
            continue
        if src.name in seen:
            problems.append(f"{label}: duplicate name")
        seen.add(src.name)
        sources.append(src)
    if problems:
        raise SourceError(problems)
    return SourceIndex(tuple(sources), path)


def _source(item: object, base: Path | None, formats: Collection[str]) -> Source:
    if not isinstance(item, dict):
        raise ValueError("must be a mapping")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(str, unknown))}")
    name = check_name(item.get("name"))
    fmt = item.get("format")
    if fmt not in formats:
        known = ", ".join(sorted(formats))
        raise ValueError(f"unknown format {fmt!r} (registered parsers: {known})")
    url, path = item.get("url"), item.get("path")
    if (url is None) == (path is None):
        raise ValueError("needs exactly one of 'url' or 'path'")
    if url is not None and (
        not isinstance(url, str) or not re.match(r"(https?|file)://\S+\Z", url, re.I)
    ):
        raise ValueError(f"url must be http://, https:// or file://: {url!r}")
    local: Path | None = None
    if path is not None:
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a non-empty string: {path!r}")
        local = Path(path).expanduser()
        if not local.is_absolute() and base is not None:
            local = base / local
    try:
        category = Category(item.get("category", "pool"))
    except ValueError:
        raise ValueError(
            f"unknown category {item.get('category')!r} ({', '.join(c.value for c in Category)})"
        ) from None
    return Source(
        name=name,
        format=str(fmt),
        url=url,
        path=local,
        category=category,
        confidence=_fraction(item, "confidence", 0.5) or 0.0,
        licence=_text(item, "licence"),
        refresh=parse_duration(item.get("refresh", "1d")),
        enabled=_flag(item, "enabled", True),
        public_only=_flag(item, "public_only", True),
        options=_options(item.get("options")),
        member=_text(item, "member") or None,
        min_fraction=_fraction(item, "min_fraction", None),
        description=_text(item, "description"),
    )


def _fraction(item: dict[str, Any], key: str, default: float | None) -> float | None:
    value = item.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{key} must be a number within [0, 1]: {value!r}")
    return float(value)


def _flag(item: dict[str, Any], key: str, default: bool) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false: {value!r}")
    return value


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string: {value!r}")
    return value


def _options(value: object) -> dict[str, str]:
    """Parser options: a mapping of strings (numbers and booleans are written as text)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"options must be a mapping: {value!r}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or isinstance(v, dict | list) or v is None:
            raise ValueError(f"options must map names to scalar values: {k!r}: {v!r}")
        out[k] = str(v).lower() if isinstance(v, bool) else str(v)
    return out
