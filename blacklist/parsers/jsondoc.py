"""A JSON feed document read from lines, with each array element traced back to its line.

Parsers report provenance per line (`Entry.line`, `Entry.raw`), but `json.loads` forgets where
a value was. `JsonDoc` joins the lines, validates the whole document once, then walks to the
array at a dotted path with `raw_decode` so every element comes with its start line. A syntax
error anywhere is one problem for the document and no entries: a truncated download cannot be
trusted to hold whole records.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from blacklist.parsers.common import Collector, numbered

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


class JsonError(Exception):
    """Why the document or the path failed; `pos` is the offset to report the line of."""

    def __init__(self, code: str, reason: str, pos: int) -> None:
        super().__init__(reason)
        self.code, self.reason, self.pos = code, reason, pos


class JsonDoc:
    """The joined text, the raw lines and the offset each line starts at."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.raws: list[str] = []
        self.starts: list[int] = []
        parts: list[str] = []
        pos = 0
        for _, raw, text in numbered(lines):
            self.raws.append(raw)
            self.starts.append(pos)
            parts.append(text)
            pos += len(text) + 1
        self.text = "\n".join(parts)

    @property
    def blank(self) -> bool:
        """Only JSON whitespace: an empty feed (nothing to report), not a broken one."""
        return not self.text.strip(" \t\r\n")

    def line(self, pos: int) -> int:
        return max(1, bisect.bisect_right(self.starts, pos))

    def raw(self, line: int) -> str:
        return self.raws[line - 1]

    def load(self) -> Any:
        """The whole document (`JsonError` on a syntax error or absurd nesting)."""
        try:
            return json.loads(self.text)
        except json.JSONDecodeError as exc:
            raise JsonError("bad-json", f"not valid JSON: {exc.msg}", exc.pos) from None
        except ValueError as exc:  # an integer beyond Python's 4300-digit conversion limit
            raise JsonError("bad-json", f"not valid JSON: {exc}"[:120], 0) from None
        except RecursionError:
            raise JsonError("bad-json", "JSON nested too deeply", 0) from None

    def elements(self, path: str) -> Iterator[tuple[int, Any]]:
        """(line, value) of each element of the array at `path` (`$`, `data.pools`, `$.list`)."""
        parts = [p for p in path.removeprefix("$").split(".") if p]
        pos = _skip(self.text, 0)
        for part in parts:
            pos = self._member(pos, part)
        if not self.text.startswith("[", pos):
            raise JsonError("no-array", f"no array at {path!r}", pos)
        for start in self._items(pos, "]"):
            value, _ = _decode(self.text, start)
            yield self.line(start), value

    def problem(self, col: Collector, exc: JsonError) -> None:
        line = self.line(exc.pos) if self.raws else 0
        col.problem(line, self.raw(line) if line else "", exc.code, exc.reason)

    def _member(self, pos: int, part: str) -> int:
        """Offset of `part` (object key, or array index when numeric) in the value at `pos`."""
        text = self.text
        if text.startswith("[", pos) and part.isascii() and part.isdigit():
            for index, start in enumerate(self._items(pos, "]")):
                if index == int(part):
                    return start
        elif text.startswith("{", pos):
            found = -1  # the last duplicate key wins, as in `json.loads`
            for start in self._items(pos, "}"):
                key, after = _decode(text, start)
                if key == part:
                    found = _skip(text, _skip(text, after) + 1)  # past the ':'
            if found >= 0:
                return found
        raise JsonError("no-array", f"no {part!r} in the JSON document", pos)

    def _items(self, pos: int, close: str) -> Iterator[int]:
        """Start offsets of the members of the (valid) container opening at `pos`."""
        text = self.text
        pos = _skip(text, pos + 1)
        while not text.startswith(close, pos):
            yield pos
            if close == "}":  # skip `"key": `, then the value
                _, pos = _decode(text, pos)
                pos = _skip(text, _skip(text, pos) + 1)
            _, pos = _decode(text, pos)
            pos = _skip(text, pos)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)


def _skip(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return match.end() if match else pos


def _decode(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:  # only reachable if the caller skipped `load`
        raise JsonError("bad-json", f"not valid JSON: {exc.msg}", exc.pos) from None
    except (ValueError, RecursionError):  # 4300-digit integers, absurd nesting
        raise JsonError("bad-json", "unreadable JSON value", pos) from None


def finish(col: Collector, doc: JsonDoc) -> None:
    """Every line that holds no element start is skipped (brackets, keys, multi-line records)."""
    used = {e.line for e in col.entries} | {p.line for p in col.problems}
    col.skipped = len(doc.raws) - len(used)
