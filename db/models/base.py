"""Declarative base with a naming convention, so migrations name constraints stably."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Enum, ForeignKey, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from db.types import UtcDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True, sort_order=-2)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Owned(Timestamped):
    """A row that belongs to one account: every query filters on `account_id`."""

    @declared_attr
    @classmethod
    def account_id(cls) -> Mapped[int]:
        return mapped_column(
            Id, ForeignKey("accounts.id", ondelete="CASCADE"), index=True, sort_order=-1
        )


def enum_type(enum: type[StrEnum]) -> Enum:
    """Stores the enum's lowercase value as VARCHAR with a CHECK, identically on both databases."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=True,
        length=32,
        name=enum.__name__.lower(),
        values_callable=lambda e: [m.value for m in e],
    )
