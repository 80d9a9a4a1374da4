"""Assemble the block list a scan uses: the built-in curated list plus `--blocklist` files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from blacklist.builtin import builtin_entries
from blacklist.entries import Category
from blacklist.matcher import Matcher
from blacklist.parsers import SourceMeta, parse_path

# An operator's own list is trusted more than a public feed, less than protocol evidence.
FILE_CONFIDENCE = 0.8


class ListError(Exception):
    """A block list file cannot be read at all."""


def build_matcher(files: Sequence[str | Path] = ()) -> tuple[Matcher, list[str]]:
    """Compile the built-in list and plain list files; returns the matcher and notes to show."""
    entries = list(builtin_entries())
    notes: list[str] = []
    for f in files:
        path = Path(f)
        # the operator's own list may name internal proxies or lab ranges (private, TEST-NET)
        meta = SourceMeta(
            name=f"file:{path.name}",
            category=Category.POOL,
            confidence=FILE_CONFIDENCE,
            public_only=False,
        )
        try:
            result = parse_path(path, "plain", meta)
        except OSError as exc:
            raise ListError(f"cannot read block list {path}: {exc.strerror or exc}") from exc
        entries.extend(result.entries)
        notes.append(f"block list {path}: {result.summary()}")
        for problem in result.problems[:5]:
            notes.append(f"  line {problem.line}: {problem.reason}: {problem.raw!r}")
        if len(result.problems) > 5:
            notes.append(f"  ... {len(result.problems) - 5} more problems")
    return Matcher(entries), notes
