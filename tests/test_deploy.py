"""The systemd units in deploy/ are valid units that run commands that exist (systemd-analyze)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNITS = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("SKIPPED LOUDLY: systemd-analyze is not installed (Debian: systemd)")
    exe = Path(sys.executable).parent / "minewatch"
    name = unit.name.replace("@.", "@eth0.")
    for other in UNITS:  # a timer needs its service beside it
        text = other.read_text().replace("/opt/minewatch/.venv/bin/minewatch", str(exe))
        text = text.replace("/usr/sbin/ethtool", shutil.which("true") or "/bin/true")
        (tmp_path / other.name.replace("@.", "@eth0.")).write_text(text)
    res = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    noise = ("Failed to connect", "System has not been booted")
    problems = [
        line for line in (res.stdout + res.stderr).splitlines()
        if line.strip() and not any(n in line for n in noise)
        # a warning about another installed unit (freeradius.service's MemoryLimit=) is not ours
        and not (line.startswith("/") and not line.startswith(str(tmp_path)))
    ]  # fmt: skip
    assert res.returncode == 0 and not problems, problems


def test_every_long_running_command_has_a_unit() -> None:
    text = " ".join(p.read_text() for p in UNITS)
    for command in ("bin/minewatch collect", "bin/minewatch capture", "bin/minewatch feeds update",
                    "bin/minewatch serve", "bin/minewatch export-scheduler",
                    "bin/minewatch db maintain"):  # fmt: skip
        assert command in text


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda p: p.name)
def test_sandboxed_units_have_a_kernel_cache(unit: Path) -> None:
    """ProtectSystem=strict and ProtectHome=yes leave numba no writable place of its own (its
    locators then fail at import, tests/test_kernel_cache.py); the unit's CacheDirectory is
    where pipelines.kernel_cache keeps the compiled kernels across restarts."""
    text = unit.read_text()
    if "ProtectSystem=strict" in text or "ProtectHome=yes" in text:
        assert "CacheDirectory=minewatch" in text
