"""contacts: email optional (phone-only contacts), phone NULL when absent and unique per
account, and a contact needs an email or a phone

Revision ID: 0008_contacts
Revises: 0007_twchan

Data: an empty phone becomes NULL. Stored phones already had E.164's shape (the old rule),
and are kept as they are, valid or not by today's metadata (the next change of the
contact's phone is checked). Where contacts of one account share a phone number (allowed
before), the oldest keeps it and the others' phone is cleared (logged with a count): they
keep their email, which identified them until now.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_contacts"
down_revision: str | Sequence[str] | None = "0007_twchan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_log = logging.getLogger("alembic.runtime.migration")
# SQLite rebuilds the table: keep AUTOINCREMENT (0004_inputs; ids are never reused).
_TABLE_KWARGS = {"sqlite_autoincrement": True}

_SHARED_LATER = (
    "phone IS NOT NULL AND EXISTS (SELECT 1 FROM contacts AS older "
    "WHERE older.account_id = contacts.account_id AND older.phone = contacts.phone "
    "AND older.id < contacts.id)"
)


def upgrade() -> None:
    with op.batch_alter_table("contacts", table_kwargs=_TABLE_KWARGS) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(254), nullable=True)
        batch_op.alter_column("phone", existing_type=sa.String(20), nullable=True)
    op.execute("UPDATE contacts SET phone = NULL WHERE phone = ''")
    shared = op.get_bind().scalar(sa.text(f"SELECT count(*) FROM contacts WHERE {_SHARED_LATER}"))
    if shared:
        _log.warning(
            "0006_contacts: cleared the phone of %d contacts whose number an older contact "
            "of the same account has.",
            shared,
        )
        op.execute(f"UPDATE contacts SET phone = NULL WHERE {_SHARED_LATER}")
    with op.batch_alter_table("contacts", table_kwargs=_TABLE_KWARGS) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_contacts_account_id_phone"), ["account_id", "phone"]
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_contacts_reachable"), "email IS NOT NULL OR phone IS NOT NULL"
        )


def downgrade() -> None:
    phone_only = op.get_bind().scalar(sa.text("SELECT count(*) FROM contacts WHERE email IS NULL"))
    if phone_only:
        raise RuntimeError(
            f"{phone_only} contacts have no email, which the previous schema requires: "
            "delete them or give them an email first."
        )
    with op.batch_alter_table("contacts", table_kwargs=_TABLE_KWARGS) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_contacts_reachable"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_contacts_account_id_phone"), type_="unique")
    op.execute("UPDATE contacts SET phone = '' WHERE phone IS NULL")
    with op.batch_alter_table("contacts", table_kwargs=_TABLE_KWARGS) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(254), nullable=False)
        batch_op.alter_column("phone", existing_type=sa.String(20), nullable=False)
