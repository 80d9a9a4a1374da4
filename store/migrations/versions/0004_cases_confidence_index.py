"""An index on cases.confidence: list filters with a min_confidence that nothing meets.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_confidence", "cases", ["confidence"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_confidence", table_name="cases")
