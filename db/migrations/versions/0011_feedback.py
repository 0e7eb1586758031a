"""What comes back from Twilio: replies, consent changes, a lead's delivered/read/replied/
converted times, execution counters for them, conversion payloads, and service triggers
(a service campaign's row per idempotency key)

Revision ID: 0011_feedback
Revises: 0010_twsend
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_feedback"
down_revision: str | Sequence[str] | None = "0010_twsend"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "twilio_channel_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("button_payload", sa.String(length=255), nullable=False),
        sa.Column("button_text", sa.String(length=255), nullable=False),
        sa.Column("media_urls", sa.JSON(), nullable=False),
        sa.Column("opt_out", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_replies_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_replies_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_replies_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["twilio_channel_id"],
            ["twilio_channels.id"],
            name=op.f("fk_replies_twilio_channel_id_twilio_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replies")),
        sa.UniqueConstraint(
            "account_id", "message_sid", name=op.f("uq_replies_account_id_message_sid")
        ),
    )
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_replies_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_replies_delivery_id"), ["delivery_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_replies_twilio_channel_id"), ["twilio_channel_id"], unique=False
        )

    op.create_table(
        "consent_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "channel_type",
            sa.Enum(
                "email",
                "whatsapp",
                "sms",
                name="channeltype",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "keyword",
                "provider",
                "unsubscribe_link",
                "api",
                name="consentsource",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("reply_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_consent_changes_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_consent_changes_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_consent_changes_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reply_id"],
            ["replies.id"],
            name=op.f("fk_consent_changes_reply_id_replies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_changes")),
    )
    with op.batch_alter_table("consent_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_changes_contact_id"), ["contact_id"], unique=False
        )

    with op.batch_alter_table("campaign_executions", schema=None) as batch_op:
        for counter in ("total_read", "total_replied", "total_converted"):
            batch_op.add_column(
                sa.Column(counter, sa.Integer(), nullable=False, server_default="0")
            )

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversion_payloads", sa.JSON(), nullable=True))

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trigger_key", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_deliveries_campaign_id_contact_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_deliveries_message_id"), ["message_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_deliveries_campaign_id_contact_id_trigger_key"),
            ["campaign_id", "contact_id", "trigger_key"],
        )
        batch_op.create_index(
            "uq_deliveries_campaign_id_trigger",
            ["campaign_id", "trigger_key"],
            unique=True,
            sqlite_where=sa.text("trigger_key <> ''"),
            postgresql_where=sa.text("trigger_key <> ''"),
        )
    # The defaults only fill the rows there were; the models give every new row its value.
    with op.batch_alter_table("campaign_executions", schema=None) as batch_op:
        for counter in ("total_read", "total_replied", "total_converted"):
            batch_op.alter_column(counter, server_default=None)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("trigger_key", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_deliveries_campaign_id_trigger",
            sqlite_where=sa.text("trigger_key <> ''"),
            postgresql_where=sa.text("trigger_key <> ''"),
        )
        batch_op.drop_constraint(
            batch_op.f("uq_deliveries_campaign_id_contact_id_trigger_key"), type_="unique"
        )
        batch_op.drop_index(batch_op.f("ix_deliveries_message_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_deliveries_campaign_id_contact_id"), ["campaign_id", "contact_id"]
        )
        batch_op.drop_column("converted_at")
        batch_op.drop_column("replied_at")
        batch_op.drop_column("read_at")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("trigger_key")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("conversion_payloads")

    with op.batch_alter_table("campaign_executions", schema=None) as batch_op:
        batch_op.drop_column("total_converted")
        batch_op.drop_column("total_replied")
        batch_op.drop_column("total_read")

    with op.batch_alter_table("consent_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_changes_contact_id"))

    op.drop_table("consent_changes")
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replies_twilio_channel_id"))
        batch_op.drop_index(batch_op.f("ix_replies_delivery_id"))
        batch_op.drop_index(batch_op.f("ix_replies_contact_id"))

    op.drop_table("replies")
