"""Fixtures for the flow-export oracle: the real exporter (softflowd) and collector (nfdump)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import MINING, need_shared  # tests/conftest.py: pytest puts tests/ on the path

ORACLE_TOOLS = {
    "softflowd": "softflowd",
    "nfcapd": "nfdump",
    "nfdump": "nfdump",
    "editcap": "tshark",  # wireshark-common, pulled in by tshark
}
# Real captures softflowd replays: IPv4 and IPv6, TCP, UDP and ICMP, pcapng and pcap.
ORACLE_CAPTURES = ["nesfit__cgminer.g0.pcapng", "CryptominingDetector__miner.e52b224.pcap"]


def need_oracle_tools() -> dict[str, str]:
    found = {tool: shutil.which(tool) for tool in ORACLE_TOOLS}
    missing = sorted({ORACLE_TOOLS[t] for t, path in found.items() if path is None})
    if missing:
        pytest.skip(
            f"SKIPPED LOUDLY: the NetFlow oracle needs the Debian packages {' '.join(missing)} "
            "(softflowd exports, nfcapd/nfdump collect); .ci/run installs them"
        )
    return {t: str(p) for t, p in found.items()}


@pytest.fixture(scope="module")
def oracle_tools() -> dict[str, str]:
    return need_oracle_tools()


@pytest.fixture(scope="module", params=ORACLE_CAPTURES)
def classic_pcap(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    oracle_tools: dict[str, str],
) -> Path:
    """The capture as classic pcap in a temporary directory (softflowd reads no pcapng)."""
    need_shared()
    src: Path = MINING / str(request.param)
    if not src.exists():
        pytest.skip(f"SKIPPED LOUDLY: shared capture {src} is missing")
    out: Path = tmp_path_factory.mktemp("pcap") / (src.stem + ".pcap")
    subprocess.run([oracle_tools["editcap"], "-F", "pcap", str(src), str(out)], check=True)
    return out
