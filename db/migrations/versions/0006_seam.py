"""channel seam: the ledger's neutral recipient address and variables, channel usage by
channel key, the opted-out delivery status

Revision ID: 0006_seam
Revises: 0005_exact
"""

from collections.abc import Sequence
from datetime import UTC, datetime, time

import sqlalchemy as sa
from alembic import op

revision: str = "0006_seam"
down_revision: str | Sequence[str] | None = "0005_exact"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = ["pending", "sending", "sent", "failed", "cancelled"]


def _status_check(values: list[str]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "channel_usage",
        sa.Column("channel_key", sa.String(length=40), nullable=False),
        sa.Column("period", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel_key", "period", name=op.f("pk_channel_usage")),
    )
    # Email channels count per UTC day: a day's bucket starts at its midnight (UTC).
    usage = sa.table(
        "email_channel_usage",
        sa.column("channel_id", sa.Integer()),
        sa.column("day", sa.Date()),
        sa.column("used", sa.Integer()),
    )
    rows = op.get_bind().execute(sa.select(usage.c.channel_id, usage.c.day, usage.c.used))
    op.bulk_insert(
        sa.table(
            "channel_usage",
            sa.column("channel_key", sa.String()),
            sa.column("period", sa.DateTime(timezone=True)),
            sa.column("used", sa.Integer()),
        ),
        [
            {
                "channel_key": f"email:{channel_id}",
                "period": datetime.combine(day, time(), UTC),
                "used": used,
            }
            for channel_id, day, used in rows
        ],
    )
    op.drop_table("email_channel_usage")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "email", new_column_name="address", existing_type=sa.String(length=254)
        )
        batch_op.add_column(sa.Column("variables", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("error_code", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.drop_constraint("deliverystatus", type_="check")
        batch_op.create_check_constraint("deliverystatus", _status_check([*_STATUSES, "opted_out"]))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("error_code", server_default=None)


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'failed' WHERE status = 'opted_out'")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("deliverystatus", type_="check")
        batch_op.create_check_constraint("deliverystatus", _status_check(_STATUSES))
        batch_op.drop_column("error_code")
        batch_op.drop_column("variables")
        batch_op.alter_column(
            "address", new_column_name="email", existing_type=sa.String(length=254)
        )
    op.create_table(
        "email_channel_usage",
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["email_channels.id"],
            name=op.f("fk_email_channel_usage_channel_id_email_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "day", name=op.f("pk_email_channel_usage")),
    )
    usage = sa.table(
        "channel_usage",
        sa.column("channel_key", sa.String()),
        sa.column("period", sa.DateTime(timezone=True)),
        sa.column("used", sa.Integer()),
    )
    rows = op.get_bind().execute(
        sa.select(usage.c.channel_key, usage.c.period, usage.c.used).where(
            usage.c.channel_key.like("email:%")
        )
    )
    op.bulk_insert(
        sa.table(
            "email_channel_usage",
            sa.column("channel_id", sa.Integer()),
            sa.column("day", sa.Date()),
            sa.column("used", sa.Integer()),
        ),
        [
            {"channel_id": int(key.removeprefix("email:")), "day": period.date(), "used": used}
            for key, period, used in rows
        ],
    )
    op.drop_table("channel_usage")
