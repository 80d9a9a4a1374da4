"""Schema management: Alembic migrations, applied on connect.

Every table lives on `store.models.Base`; `metadata()` imports each model module so the
metadata is complete. `migrate(engine)` brings a database to the newest revision: a new database
gets every migration; one created before migrations existed (tables made by `create_all`,
`alembic_version` missing) is stamped at the baseline revision `0001` first, then upgraded.
A process checks each database once (cached per URL), so connecting stays cheap.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect

BASELINE = "0001"  # hits + block-list tables, as create_all made them before migrations
_LEGACY_TABLES = ("hits", "list_versions")
_done: set[str] = set()
_lock = threading.Lock()


def metadata() -> MetaData:
    """The metadata of every table (importing each model module registers its tables)."""
    import store.apikeys
    import store.casemodels
    import store.listmodels
    import store.subscribermodels  # noqa: F401
    from store.models import Base

    return Base.metadata


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, *, force: bool = False) -> str:
    """Upgrade `engine`'s database to the newest revision (once per process unless `force`);
    returns the revision it is at."""
    key = engine.url.render_as_string(hide_password=False)
    with _lock:
        if key in _done and not force:
            return head()
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            rev = MigrationContext.configure(conn).get_current_revision()
            if rev is None and any(inspect(conn).has_table(t) for t in _LEGACY_TABLES):
                command.stamp(cfg, BASELINE)
            command.upgrade(cfg, "head")
        _done.add(key)
        return head()
