"""deliveries.first_claimed_at: where a lookup of a lost answer starts

Revision ID: 0010_twsend
Revises: 0009_messaging
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_twsend"
down_revision: str | Sequence[str] | None = "0009_messaging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_claimed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("first_claimed_at")
