"""Cases per (subscriber, pool endpoint) and their audit trail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_audit_case", "case_audit", ["case_id", "at"], unique=False)
    op.create_table(
        "cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subscriber_ip", sa.String(length=45), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("sector", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=128), nullable=False),
        sa.Column("pool_ip", sa.String(length=45), nullable=False),
        sa.Column("pool_port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("pool_domain", sa.String(length=253), nullable=False),
        sa.Column("pool_country", sa.String(length=2), nullable=True),
        sa.Column("pool_asn", sa.BigInteger(), nullable=True),
        sa.Column("pool_as_org", sa.String(length=256), nullable=True),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("flows", sa.BigInteger(), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("offences", sa.Integer(), nullable=False),
        sa.Column("status_changed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "subscriber_ip",
            "account",
            "pool_ip",
            "pool_port",
            "transport",
            "pool_domain",
            name="uq_cases_key",
        ),
    )
    op.create_index("ix_cases_last_seen", "cases", ["last_seen"], unique=False)
    op.create_index("ix_cases_pool", "cases", ["pool_ip"], unique=False)
    op.create_index("ix_cases_region_id", "cases", ["region", "id"], unique=False)
    op.create_index("ix_cases_sector_id", "cases", ["sector", "id"], unique=False)
    op.create_index("ix_cases_status_id", "cases", ["status", "id"], unique=False)
    op.create_index("ix_cases_status_last", "cases", ["status", "last_seen"], unique=False)
    op.create_index("ix_cases_subscriber", "cases", ["subscriber_ip"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_subscriber", table_name="cases")
    op.drop_index("ix_cases_status_last", table_name="cases")
    op.drop_index("ix_cases_status_id", table_name="cases")
    op.drop_index("ix_cases_sector_id", table_name="cases")
    op.drop_index("ix_cases_region_id", table_name="cases")
    op.drop_index("ix_cases_pool", table_name="cases")
    op.drop_index("ix_cases_last_seen", table_name="cases")
    op.drop_table("cases")
    op.drop_index("ix_case_audit_case", table_name="case_audit")
    op.drop_table("case_audit")
