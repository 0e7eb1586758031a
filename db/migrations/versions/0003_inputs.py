"""contacts: AUTOINCREMENT on SQLite, so a contact id is never reused (unsubscribe links
name contacts by id)

Revision ID: 0003_inputs
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_inputs"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostgreSQL sequences never hand out a value twice: nothing to do there. SQLite
    # copies the table (ids kept); sqlite_sequence starts from the largest id copied.
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "contacts", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "contacts", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
