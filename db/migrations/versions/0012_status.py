"""Status callbacks: callbacks that came before their message's sid was recorded
(early_statuses), and when the catch-up job last fetched a lead's message

Revision ID: 0012_status
Revises: 0011_feedback
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_status"
down_revision: str | Sequence[str] | None = "0011_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "early_statuses",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("channel_id", _ID, nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=False),
        sa.Column("error_message", sa.String(length=300), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["twilio_channels.id"],
            name=op.f("fk_early_statuses_channel_id_twilio_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_statuses")),
    )
    with op.batch_alter_table("early_statuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_early_statuses_message_sid"), ["message_sid"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_early_statuses_received_at"), ["received_at"], unique=False
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status_checked_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("status_checked_at")
    with op.batch_alter_table("early_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_early_statuses_received_at"))
        batch_op.drop_index(batch_op.f("ix_early_statuses_message_sid"))
    op.drop_table("early_statuses")
