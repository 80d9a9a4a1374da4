"""The feed-parser contract: text lines + source metadata in, entries + problems out.

A parser is pure (no I/O, no globals), never raises on content, and accounts for every line:
each one is skipped (blank, comment, hosts boilerplate) or yields at least one entry or problem.
That is what lets a refresh be judged ("N entries, M problems") instead of silently shrinking.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from blacklist.entries import Category, Entry, Problem


@dataclass(frozen=True, slots=True)
class SourceMeta:
    """What a feed's entries inherit: its name (shown on every hit), category, confidence.

    `public_only=False` accepts private, documentation and other non-public address space —
    for lab and sample lists (RFC 5737/3849 addresses) or pools inside a monitored network;
    real feeds keep the default, where such entries are problems (a typo or a placeholder).
    The later feed service adds url, licence and refresh interval next to these (as data,
    suricata-update style); parsers only need what ends up on an entry.

    `options` are format settings a generic parser cannot guess (csv: which column; json: where
    the array is and what its fields are called); each parser documents its keys. Strings only,
    so a YAML source index maps onto them 1:1. Not part of the hash (a dict is unhashable).
    """

    name: str
    category: Category = Category.POOL
    confidence: float = 0.5
    public_only: bool = True
    options: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Outcome of one parse. `lines` counts input lines, `skipped` those that carry nothing."""

    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...]
    lines: int = 0
    skipped: int = 0

    def summary(self) -> str:
        return f"{len(self.entries)} entries, {len(self.problems)} problems"

    def unique(self) -> int:
        """Distinct indicators (feeds repeat lines; entries keep each for provenance)."""
        return len({e.key for e in self.entries})


class Parser(Protocol):
    """One feed format: one module, one line in `blacklist.parsers.PARSERS`."""

    def __call__(self, lines: Iterable[str], source: SourceMeta) -> ParseResult: ...


def read_lines(path: Path) -> Iterator[str]:
    """A feed file's lines; undecodable bytes become U+FFFD so they fail one line, not the file."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        yield from fh
