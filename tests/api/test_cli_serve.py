"""`serve` and `apikey` as real processes: placeholder secrets refused, a created key (alone on
the last line) works against a running server, list shows its prefix, revoke stops it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-m", "minewatch.cli_serve"]


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **(env or {})})  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINEWATCH_")}
    return {**env, **extra}


@pytest.mark.parametrize("secret", ["", "change-me", "CHANGEME", "secret", "Placeholder", "xxx"])
def test_serve_refuses_placeholder_secrets(tmp_path: Path, secret: str) -> None:
    cfg = tmp_path / "minewatch.toml"
    cfg.write_text(f'webhook_secret = "{secret}"\nport = 1\n')
    proc = subprocess.run([*CLI, "serve", "--config", str(cfg), "--db",
                           f"sqlite:///{tmp_path / 'x.db'}"], capture_output=True, text=True,
                          timeout=60, env=clean_env(), check=False)  # fmt: skip
    assert proc.returncode != 0
    assert "webhook_secret" in proc.stderr and "placeholder" in proc.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything


def test_dev_server_binds_loopback_only(tmp_path: Path) -> None:
    proc = subprocess.run([*CLI, "serve", "--host", "0.0.0.0"], capture_output=True, text=True,
                          timeout=60, env=clean_env(MINEWATCH_ENV="dev"), check=False)  # fmt: skip
    assert proc.returncode != 0 and "loopback" in proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    port = free_port()
    env = clean_env(
        MINEWATCH_WEBHOOK_SECRET="a-real-secret-4f9c", MINEWATCH_KEY_CACHE_SECONDS="0.2"
    )
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--db", db], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield url, db
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_apikey_create_works_against_the_server(server: tuple[str, str]) -> None:
    url, db = server
    created = run(["apikey", "create", "--role", "analyst", "--name", "noc", "--db", db])
    assert created.returncode == 0, created.stderr
    key = created.stdout.rstrip("\n").splitlines()[-1]
    assert key.startswith("mw_") and " " not in key and len(key) > 40
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{url}/v1/cases", headers=headers).status_code == 200
    listing = run(["apikey", "list", "--db", db]).stdout
    assert key[:11] in listing and key not in listing and "noc" in listing
    revoked = run(["apikey", "revoke", key[:11], "--db", db])
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    time.sleep(0.5)  # the server's key cache: 0.2 s here
    assert httpx.get(f"{url}/v1/cases", headers=headers).status_code == 401
    assert run(["apikey", "revoke", "mw_nomatch", "--db", db]).returncode != 0
