"""Contacts by WhatsApp number: a WhatsApp reply finds its sender's contacts by it, and
without an index that was a scan of the account's contacts per reply

Revision ID: 0013_wa_index
Revises: 0012_status
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_wa_index"
down_revision: str | Sequence[str] | None = "0012_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contacts_account_id_whatsapp", "contacts", ["account_id", "whatsapp"])


def downgrade() -> None:
    op.drop_index("ix_contacts_account_id_whatsapp", table_name="contacts")
