"""Properties: importing the same content twice never makes a version (whatever the line order,
duplicates or comments), and a version always reads back as exactly what was imported."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blacklist.history import diff, iter_entries
from blacklist.service import FeedService
from blacklist.versions import head_version

from .support import Database

_IPV4 = st.tuples(*[st.integers(1, 223)] + [st.integers(0, 255)] * 3).map(
    lambda t: ".".join(map(str, t))
)
_PORT = st.integers(1, 65535)
_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
ITEM = st.one_of(
    _IPV4,
    st.tuples(_IPV4, _PORT).map(lambda t: f"{t[0]}:{t[1]}"),
    _IPV4.map(lambda a: ".".join(a.split(".")[:2]) + ".0.0/16"),
    st.tuples(_LABEL, _LABEL, st.sampled_from(["org", "net", "example"])).map(".".join),
    st.tuples(_LABEL, st.sampled_from(["com", "io"])).map(lambda t: f"*.{t[0]}.{t[1]}"),
)
_names = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(items=st.lists(ITEM, min_size=1, max_size=40), seed=st.randoms(use_true_random=False),
       dup=st.booleans())  # fmt: skip
def test_same_content_twice_makes_no_new_version(
    db: Database, tmp_path: Path, items: list[str], seed: object, dup: bool
) -> None:
    # the database is shared by the examples; each example writes its own source
    name = f"prop{next(_names)}"
    svc = FeedService(db.engine)
    path = tmp_path / f"{name}.txt"
    path.write_text("\n".join(items) + "\n")
    first = svc.import_file(path, fmt="plain", name=name, public_only=False)
    assert first.status == "new-version", first
    vid = head_version(db.engine)
    again = svc.import_file(path, fmt="plain", name=name, public_only=False)
    assert again.status == "unchanged" and head_version(db.engine) == vid
    # the same indicators in another order, repeated, with comments: still the same content
    shuffled = list(items) * (2 if dup else 1)
    seed.shuffle(shuffled)  # type: ignore[attr-defined]
    path.write_text("# reordered\n" + "\n".join(f"{x}  # again" for x in shuffled) + "\n")
    third = svc.import_file(path, fmt="plain", name=name, public_only=False)
    assert third.status == "unchanged" and head_version(db.engine) == vid
    assert vid is not None and first.version_id == vid
    stored = {s.entry.value for s in iter_entries(db.engine, vid, source=name)}
    assert len(stored) == first.entries
    if vid > 1:  # the version added exactly this example's entries
        assert {c.value for c in diff(db.engine, vid - 1, vid)} == stored
