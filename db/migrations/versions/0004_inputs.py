"""contacts: AUTOINCREMENT on SQLite, so a contact id is never reused (unsubscribe links
name contacts by id); the time links changed, so links sent before still work

Revision ID: 0004_inputs
Revises: 0003_secrets
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004_inputs"
down_revision: str | Sequence[str] | None = "0003_secrets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_SECRETS = sa.table("server_secrets", sa.column("name", sa.String), sa.column("value", sa.String))
_CUTOFF = "unsubscribe_legacy_cutoff"


def upgrade() -> None:
    # Links made before now name a delivery (db/unsubscribe.py): they stay good for the
    # deliveries sent before now.
    op.bulk_insert(_SECRETS, [{"name": _CUTOFF, "value": datetime.now(UTC).isoformat()}])
    # PostgreSQL sequences never hand out a value twice: nothing more to do there. SQLite
    # copies the table (ids kept); sqlite_sequence starts from the largest id copied.
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "contacts", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass


def downgrade() -> None:
    op.execute(_SECRETS.delete().where(_SECRETS.c.name == _CUTOFF))
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "contacts", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
