"""Indexes on imported_at of the registry and the sessions: every sensor and API worker asks
`max(imported_at)` once a minute to see whether an import changed the attribution tables, which
without an index reads a million-row sessions table each time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_subscribers_imported_at", "subscribers", ["imported_at"], unique=False)
    op.create_index(
        "ix_subscriber_sessions_imported_at", "subscriber_sessions", ["imported_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_subscriber_sessions_imported_at", table_name="subscriber_sessions")
    op.drop_index("ix_subscribers_imported_at", table_name="subscribers")
