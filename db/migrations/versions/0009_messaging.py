"""messaging campaigns: content, leads, twilio channel

Revision ID: 0009_messaging
Revises: 0008_contacts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_messaging"
down_revision: str | Sequence[str] | None = "0008_contacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "messaging_contents",
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "content_type",
            sa.Enum(
                "text",
                "media",
                "card",
                "call_to_action",
                "quick_reply",
                name="contenttype",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("content_sid", sa.String(length=34), nullable=False),
        sa.Column("created_content_sid", sa.String(length=34), nullable=False),
        sa.Column(
            "approval_status",
            sa.Enum(
                "unsubmitted",
                "received",
                "pending",
                "approved",
                "rejected",
                "paused",
                "disabled",
                name="approvalstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("approval_category", sa.String(length=20), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=False),
        sa.Column("approval_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("variable_keys", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_messaging_contents_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_messaging_contents")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "twilio_channel_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "campaign_type",
                sa.Enum(
                    "marketing",
                    "service",
                    name="campaigntype",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=False,
                server_default="marketing",
            )
        )
        batch_op.alter_column("audience_id", existing_type=_ID, nullable=True)
        batch_op.create_index(
            batch_op.f("ix_campaigns_twilio_channel_id"), ["twilio_channel_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_twilio_channel_id_twilio_channels"),
            "twilio_channels",
            ["twilio_channel_id"],
            ["id"],
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("by_contact", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # The defaults only fill the rows there were; the models give every new row its value.
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.alter_column("campaign_type", server_default=None)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("active", server_default=None)
        batch_op.alter_column("by_contact", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("by_contact")
        batch_op.drop_column("active")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_campaigns_twilio_channel_id_twilio_channels"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_campaigns_twilio_channel_id"))
        batch_op.alter_column("audience_id", existing_type=_ID, nullable=False)
        batch_op.drop_constraint("campaigntype", type_="check")
        batch_op.drop_column("campaign_type")
        batch_op.drop_column("twilio_channel_id")

    op.drop_table("messaging_contents")
