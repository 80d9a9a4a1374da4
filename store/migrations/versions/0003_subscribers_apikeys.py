"""Subscriber registry and sessions (attribution), API keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index(op.f("ix_api_keys_prefix"), "api_keys", ["prefix"], unique=False)
    op.create_table(
        "subscriber_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ip", sa.String(length=49), nullable=False),
        sa.Column("family", sa.SmallInteger(), nullable=False),
        sa.Column("prefixlen", sa.SmallInteger(), nullable=False),
        sa.Column("lo", sa.String(length=32), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stop", sa.DateTime(timezone=True), nullable=True),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_subscriber_sessions_account", "subscriber_sessions", ["account"], unique=False
    )
    op.create_index(
        "ix_subscriber_sessions_ip_time",
        "subscriber_sessions",
        ["family", "lo", "start"],
        unique=False,
    )
    op.create_index(
        "uq_subscriber_sessions_key", "subscriber_sessions", ["ip", "start", "account"], unique=True
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("network", sa.String(length=49), nullable=True),
        sa.Column("family", sa.SmallInteger(), nullable=True),
        sa.Column("prefixlen", sa.SmallInteger(), nullable=True),
        sa.Column("lo", sa.String(length=32), nullable=True),
        sa.Column("hi", sa.String(length=32), nullable=True),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscribers_account", "subscribers", ["account"], unique=False)
    op.create_index("ix_subscribers_range", "subscribers", ["family", "lo", "hi"], unique=False)
    op.create_index(
        "ix_subscribers_sector_region", "subscribers", ["sector", "region"], unique=False
    )
    op.create_index("uq_subscribers_network", "subscribers", ["network"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_subscribers_network", table_name="subscribers")
    op.drop_index("ix_subscribers_sector_region", table_name="subscribers")
    op.drop_index("ix_subscribers_range", table_name="subscribers")
    op.drop_index("ix_subscribers_account", table_name="subscribers")
    op.drop_table("subscribers")
    op.drop_index("uq_subscriber_sessions_key", table_name="subscriber_sessions")
    op.drop_index("ix_subscriber_sessions_ip_time", table_name="subscriber_sessions")
    op.drop_index("ix_subscriber_sessions_account", table_name="subscriber_sessions")
    op.drop_table("subscriber_sessions")
    op.drop_index(op.f("ix_api_keys_prefix"), table_name="api_keys")
    op.drop_table("api_keys")
