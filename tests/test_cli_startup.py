"""`minewatch` start-up: the console entry module and `minewatch --help` import no heavy library;
the subcommands come from minewatch.cli.COMMANDS and the table's short help matches theirs."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from minewatch.cli import COMMANDS, main

# top-level packages `import minewatch.cli` / `minewatch --help` must not load: the numba kernels,
# the database, the API server, packet libraries, metrics, and this project's own packages
HEAVY = {
    "numba", "llvmlite", "numpy", "sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn",
    "pydantic", "scapy", "pyshark", "dpkt", "prometheus_client", "maxminddb", "orjson", "yaml",
    "httpx", "exabgp", "tqdm", "api", "blacklist", "detector", "pipelines", "store",
}  # fmt: skip

PROBE = """
import json, sys
{code}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def _loaded(code: str) -> set[str]:
    """Top-level modules loaded in a fresh interpreter after `code` (its stdout ends in JSON)."""
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True,
                         text=True, check=True, timeout=120).stdout  # fmt: skip
    return set(json.loads(out.splitlines()[-1]))


def test_entry_module_imports_nothing_heavy() -> None:
    assert _loaded("import minewatch.cli") & HEAVY == set()


def test_top_level_help_imports_nothing_heavy() -> None:
    code = (
        "from minewatch.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code"
    )
    assert _loaded(code) & HEAVY == set()


def test_probe_sees_heavy_imports() -> None:
    """The probe itself can fail: a command module that does load a heavy package shows up."""
    assert "sqlalchemy" in _loaded("import store.db")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_registry_matches_the_commands(name: str) -> None:
    cmd = main.get_command(click.Context(main), name)
    assert isinstance(cmd, click.Command)
    assert cmd.name == name
    stand_in = click.Command(name, help=COMMANDS[name].help)
    for limit in (20, 45, 60, 74, 120, 300):
        assert stand_in.get_short_help_str(limit) == cmd.get_short_help_str(limit), limit


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "minewatch", "--help"], capture_output=True,
                         text=True, check=True, timeout=120).stdout  # fmt: skip
    rows = out.split("Commands:\n", 1)[1].splitlines()
    assert [row.split()[0] for row in rows if row.strip()] == sorted(COMMANDS)
