"""The settings loader on arbitrary files and variables (hypothesis): a Settings or a clear
ConfigError naming the problem, never another exception; good values always survive."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from api.config import ConfigError, Settings, load_settings

FIELDS = sorted(Settings.model_fields)


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300), suffix=st.sampled_from([".toml", ".yaml", ".yml", ""]))
def test_any_config_file_loads_or_says_why(body: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"minewatch{suffix}"
        path.write_bytes(body)
        try:
            load_settings(path, environ={})
        except ConfigError as exc:
            assert str(exc)


@settings(max_examples=150, deadline=None)
@given(env=st.dictionaries(st.sampled_from(FIELDS).map(lambda f: "MINEWATCH_" + f.upper()),
                           st.text(max_size=40), max_size=4))  # fmt: skip
def test_any_environment_loads_or_says_why(env: dict[str, str]) -> None:
    try:
        load_settings(None, environ=env)
    except ConfigError as exc:
        assert str(exc)


def test_good_values_survive_next_to_garbage(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('port = 9090\ninternal_networks = ["10.0.0.0/8"]\n')
    env = {"MINEWATCH_WORKERS": "3", "MINEWATCH_EVENT_TARGETS": "https://a/h, syslog+tcp://b:1"}
    got = load_settings(path, environ=env)
    assert (got.port, got.workers, got.internal_networks) == (9090, 3, ["10.0.0.0/8"])
    assert got.event_targets == ["https://a/h", "syslog+tcp://b:1"]
