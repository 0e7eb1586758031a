"""secrets: encrypted SMTP passwords (wider column; clear ones marked "plain:"), API key
last use

The migration cannot know the secret key (CLARION_SECRET_KEY or the data dir's key file),
so it marks the passwords stored in clear; the application encrypts the marked ones when
it starts (db/secrets.py `seal_stored_secrets`).

Revision ID: 0003_secrets
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_secrets"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("email_channels", schema=None) as batch_op:
        batch_op.alter_column(
            "smtp_password",
            existing_type=sa.String(length=255),
            type_=sa.String(length=1024),
            existing_nullable=False,
        )
    op.execute(
        "UPDATE email_channels SET smtp_password = 'plain:' || smtp_password "
        "WHERE smtp_password <> ''"
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Encrypted passwords cannot be decrypted here: they are cleared (re-enter them).
    op.execute(
        "UPDATE email_channels SET smtp_password = CASE WHEN smtp_password LIKE 'plain:%' "
        "THEN substr(smtp_password, 7) ELSE '' END"
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
    with op.batch_alter_table("email_channels", schema=None) as batch_op:
        batch_op.alter_column(
            "smtp_password",
            existing_type=sa.String(length=1024),
            type_=sa.String(length=255),
            existing_nullable=False,
        )
