"""twilio channels: WhatsApp and SMS over Twilio; campaigns' channel type may name them

Revision ID: 0007_twchan
Revises: 0006_seam
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_twchan"
down_revision: str | Sequence[str] | None = "0006_seam"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "twilio_channels",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("channel_type", _enum("twiliochanneltype", "whatsapp", "sms"), nullable=False),
        sa.Column(
            "status", _enum("channelstatus", "active", "suspended", "pending"), nullable=False
        ),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("auth_token", sa.String(length=1024), nullable=False),
        sa.Column("from_number", sa.String(length=16), nullable=True),
        sa.Column("messaging_service_sid", sa.String(length=34), nullable=True),
        sa.Column("rate_limit", sa.Integer(), nullable=True),
        sa.Column("daily_quota", sa.Integer(), nullable=False),
        sa.Column("api_base_url", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_twilio_channels_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twilio_channels")),
        sa.UniqueConstraint("account_id", "code", name=op.f("uq_twilio_channels_account_id_code")),
    )
    with op.batch_alter_table("twilio_channels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_twilio_channels_account_id"), ["account_id"], unique=False
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.alter_column(
            "channel_type",
            existing_type=_enum("channeltype", "email"),
            type_=_enum("channeltype", "email", "whatsapp", "sms"),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.alter_column(
            "channel_type",
            existing_type=_enum("channeltype", "email", "whatsapp", "sms"),
            type_=_enum("channeltype", "email"),
            existing_nullable=False,
        )
    with op.batch_alter_table("twilio_channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twilio_channels_account_id"))
    op.drop_table("twilio_channels")
