"""`minewatch serve` (the HTTP API under uvicorn) and `minewatch apikey create|revoke|list`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from api.config import Settings

DB_HELP = "SQLAlchemy URL (default: the config's db_url, $MINEWATCH_DB or the SQLite file)."


def settings_from(config: str | None, **overrides: object) -> Settings:
    """The settings (file, then MINEWATCH_*, then non-None `overrides`); errors are usage errors."""
    from api.config import ConfigError, Settings, load_settings  # pydantic: only when needed

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    changed = {k: v for k, v in overrides.items() if v is not None}
    if not changed:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **changed})
    except ValueError as exc:
        raise click.UsageError(f"invalid option: {exc}") from None


@click.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8080).")
@click.option("--db", "db_url", metavar="URL", default=None, help=DB_HELP)
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="TOML or YAML settings file (default: $MINEWATCH_CONFIG).")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default 1).")  # fmt: skip
@click.option("--access-log/--no-access-log", default=None,
              help="One log line per request (default: off; the proxy in front logs).")  # fmt: skip
def serve(
    host: str | None, port: int | None, db_url: str | None, config: str | None,
    workers: int | None, access_log: bool | None,
) -> None:  # fmt: skip
    """Run the HTTP API (OpenAPI at /v1/docs). Refuses placeholder secrets unless
    MINEWATCH_ENV=dev; a dev server binds loopback only."""
    import uvicorn

    settings = settings_from(config, host=host, port=port, db_url=db_url, workers=workers,
                         access_log=access_log)  # fmt: skip
    problems = settings.problems()
    if problems:
        raise click.ClickException("refusing to start: " + "; ".join(problems))
    if settings.workers > 1:
        # our own supervisor: one SO_REUSEPORT socket per worker, so the kernel spreads the
        # connections (uvicorn's workers share one socket and one of them takes most)
        from api.workers import ServeError, serve_workers

        try:
            sys.exit(serve_workers(settings))
        except ServeError as exc:
            raise click.ClickException(str(exc)) from None
    from api.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                access_log=settings.access_log)  # fmt: skip


@click.group()
def apikey() -> None:
    """Create, revoke and list API keys (roles: admin, analyst, export)."""


def _engine(db_url: str | None, config: str | None) -> Engine:
    from api.app import open_engine

    return open_engine(settings_from(config, db_url=db_url))


@apikey.command("create")
@click.option("--role", type=click.Choice(["admin", "analyst", "export"]), required=True)
@click.option("--name", default="", help="Who or what uses the key (shown in audit trails).")
@click.option("--db", "db_url", metavar="URL", default=None, help=DB_HELP)
@click.option("--config", type=click.Path(dir_okay=False), default=None)
def create(role: str, name: str, db_url: str | None, config: str | None) -> None:
    """Create a key and print it once, alone on the last line (it is stored only hashed)."""
    from store.apikeys import create_key

    key_id, token = create_key(_engine(db_url, config), role, name or f"{role}-key")
    click.echo(f"key {key_id} ({role}) created; it is shown only now:")
    click.echo(token)


@apikey.command("revoke")
@click.argument("key")
@click.option("--db", "db_url", metavar="URL", default=None, help=DB_HELP)
@click.option("--config", type=click.Path(dir_okay=False), default=None)
def revoke(key: str, db_url: str | None, config: str | None) -> None:
    """Revoke KEY, given as its id or its shown prefix (takes effect within seconds)."""
    from store.apikeys import revoke_key

    try:
        info = revoke_key(_engine(db_url, config), key)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked key {info.key_id} {info.prefix}… ({info.role}, {info.name})")


@apikey.command("list")
@click.option("--db", "db_url", metavar="URL", default=None, help=DB_HELP)
@click.option("--config", type=click.Path(dir_okay=False), default=None)
def list_(db_url: str | None, config: str | None) -> None:
    """Keys with id, prefix, role, name, created, last used and revocation."""
    from store.apikeys import list_keys

    click.echo(f"{'id':>4}  {'prefix':12} {'role':8} {'name':20} {'created':20} {'last used':20} "
               "revoked")  # fmt: skip
    for k in list_keys(_engine(db_url, config)):
        click.echo(
            f"{k.key_id:>4}  {k.prefix:12} {k.role:8} {k.name[:20]:20} {_t(k.created):20} "
            f"{_t(k.last_used):20} {_t(k.revoked)}"
        )


def _t(value: object) -> str:
    from datetime import datetime

    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else "-"


@click.group()
def _standalone() -> None:
    """serve and apikey without the rest of the CLI (`python -m minewatch.cli_serve`)."""


_standalone.add_command(serve)
_standalone.add_command(apikey)

if __name__ == "__main__":
    _standalone()
