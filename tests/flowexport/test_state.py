"""Template state survives a restart: save/load, atomic and versioned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.decoders.flowstate import FlowState, TemplateStateError

from .builders import (
    V4_FIELDS,
    decode,
    flow_values,
    ipfix,
    options_template_ipfix,
    record,
    set_,
    template,
    tuples,
    v9,
)

SEL = [*V4_FIELDS, (302, 8)]
VARF = [(8, 4), (12, 4), (82, 65535), (1, 8, 9)]


def learned_state() -> FlowState:
    st = FlowState()
    scope, opts = [(302, 8)], [(305, 4), (306, 4)]
    decode(
        st,
        [
            ipfix(
                [
                    set_(3, options_template_ipfix(300, scope, opts)),
                    set_(300, record([*scope, *opts], [4, 1, 49])),
                    set_(2, template(256, SEL) + template(257, VARF)),
                ],
                domain=3,
            ),
            v9([set_(0, template(256, V4_FIELDS, ipfix=False))], source=5),
        ],
    )
    decode(st, [ipfix([set_(2, template(258, V4_FIELDS))])], exporter="2001:db8::1")
    return st


def data_after_restart() -> list[tuple[bytes, str]]:
    return [
        (ipfix([set_(256, record(SEL, [*flow_values(), 4]))], domain=3), "192.0.2.1"),
        (
            ipfix([set_(257, record(VARF, ["1.1.1.1", "2.2.2.2", b"ge-0/0/1", 5]))], domain=3),
            "192.0.2.1",
        ),
        (v9([set_(256, record(V4_FIELDS, flow_values()))], source=5), "192.0.2.1"),
        (ipfix([set_(258, record(V4_FIELDS, flow_values()))]), "2001:db8::1"),
    ]


def test_save_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "templates.json"
    learned_state().save(path)
    st = FlowState.load(path)
    out = [decode(st, [dg], exporter=exp) for dg, exp in data_after_restart()]
    assert [len(r) for r in out] == [1, 1, 1, 1]
    assert out[0]["sampling"][0] == 50  # the selector's rate came back too
    assert tuples(out[1])[0][:2] == ("1.1.1.1", "2.2.2.2")
    s = st.stats()
    assert (s.template_misses, s.templates_learned) == (0, 0)


def test_without_saved_state_the_same_data_is_held() -> None:
    st = FlowState()
    assert sum(len(decode(st, [dg], exporter=exp)) for dg, exp in data_after_restart()) == 0
    assert st.stats().sets_held == 4


def test_save_is_atomic_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "templates.json"
    path.write_text("old")
    learned_state().save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "minewatch-flow-templates" and doc["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["templates.json"]  # no temporary left


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"format": "something-else", "version": 1, "streams": []}),
        json.dumps({"format": "minewatch-flow-templates", "version": 99, "streams": []}),
        json.dumps(
            {"format": "minewatch-flow-templates", "version": 1, "streams": [{"exporter": "x"}]}
        ),
        json.dumps(
            {
                "format": "minewatch-flow-templates",
                "version": 1,
                "streams": [
                    {
                        "exporter": "x",
                        "version": 7,
                        "domain": 0,
                        "init_ms": -1,
                        "rate": 0,
                        "templates": [],
                        "samplers": [],
                    }
                ],
            }
        ),
    ],
)
def test_load_refuses_what_it_did_not_write(tmp_path: Path, content: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(TemplateStateError):
        FlowState.load(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateStateError):
        FlowState.load(tmp_path / "nope.json")
