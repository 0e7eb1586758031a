"""send engine: a snapshot of what a campaign sends, taken when it starts

Revision ID: 0005_exact
Revises: 0004_inputs
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_exact"
down_revision: str | Sequence[str] | None = "0004_inputs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_snapshot", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_executions", schema=None) as batch_op:
        batch_op.drop_column("send_snapshot")
