"""Service settings: a TOML or YAML file, then `MINEWATCH_<FIELD>` environment overrides.

Order (later wins): defaults → config file (`--config`, else `$MINEWATCH_CONFIG`) → environment.
List fields take JSON (`["10.0.0.0/8"]`) or a comma-separated string in the environment.
Construction is inert: nothing here connects or binds. `problems()` is what `serve` checks
before it starts (placeholder secrets, a dev server on a public address).
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "MINEWATCH_"
ENV_CONFIG = "MINEWATCH_CONFIG"
# fields holding secrets: checked for placeholders, never logged or echoed
SECRET_FIELDS = ("webhook_secret",)
PLACEHOLDERS = frozenset({"change-me", "changeme", "change_me", "secret", "placeholder", "xxx"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class ConfigError(ValueError):
    """A config file or environment value that cannot be used; the message names the field."""


class Settings(BaseModel):
    """Everything the API service and its exporters read. Unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: Literal["prod", "dev"] = "prod"
    db_url: str = Field("", description="SQLAlchemy URL; empty: $MINEWATCH_DB or a SQLite file")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    # one line per request; off by default: the reverse proxy in front logs requests already,
    # and the line costs a tenth of a verification-list request
    access_log: bool = False
    internal_networks: list[str] = Field(default_factory=list)
    geoip_country: str = ""
    geoip_asn: str = ""
    retention_days: int = Field(90, ge=1)
    clear_after_days: int = Field(30, ge=1)
    default_page_size: int = Field(100, ge=1)
    max_page_size: int = Field(1000, ge=1, le=100_000)
    max_upload_bytes: int = Field(1 << 20, ge=1024)
    max_check_ips: int = Field(100_000, ge=1)
    key_cache_seconds: float = Field(5.0, ge=0, le=300)
    key_touch_seconds: float = Field(60.0, ge=0)
    export_dir: str = ""
    exports: list[dict[str, Any]] = Field(default_factory=list)
    event_targets: list[str] = Field(default_factory=list)
    webhook_secret: str = ""

    @field_validator("internal_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)  # ValueError names the bad network
        return value

    def database_url(self) -> str:
        """`db_url`, else the store's default ($MINEWATCH_DB or the SQLite file)."""
        from store.db import default_url

        return self.db_url or default_url()

    def problems(self) -> list[str]:
        """Why `serve` must not start with these settings (empty: fine)."""
        out: list[str] = []
        if self.env == "dev":
            if self.host not in LOOPBACK_HOSTS:
                out.append(
                    f"host {self.host!r}: a dev server (MINEWATCH_ENV=dev, placeholder secrets "
                    "allowed) binds loopback only"
                )
            return out
        for name in SECRET_FIELDS:
            value = str(getattr(self, name)).strip()
            if not value or value.lower() in PLACEHOLDERS:
                out.append(
                    f"{name} is empty or a placeholder; set a real secret in the config file or "
                    f"{ENV_PREFIX}{name.upper()} (or MINEWATCH_ENV=dev for a local test server)"
                )
        return out


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then the config file, then `MINEWATCH_<FIELD>` variables (env wins)."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_CONFIG) or None
    data: dict[str, Any] = _read_file(Path(path)) if path else {}
    for name, field in Settings.model_fields.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        is_list = field.annotation is not None and "list" in str(field.annotation)
        data[name] = _env_list(name, raw) if is_list else raw
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid settings: " + "; ".join(lines)) from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start})") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a table of settings at the top level")
    return data


def _env_list(name: str, raw: str) -> list[Any]:
    raw = raw.strip()
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()}: not a JSON list ({exc.msg})") from None
        if not isinstance(value, list):
            raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected a list")
        return value
    return [part.strip() for part in raw.split(",") if part.strip()]


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as `MINEWATCH_<FIELD>` variables: how `serve --workers N` hands them to the
    worker processes (uvicorn imports the app factory in each)."""
    out: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        out[ENV_PREFIX + name.upper()] = (
            json.dumps(value) if isinstance(value, list) else str(value)
        )
    return out
