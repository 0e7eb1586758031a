from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, Owned


class Audience(Owned, Base):
    """A segment: every contact that carries at least one of `tags`."""

    __tablename__ = "audiences"
    __table_args__ = (UniqueConstraint("account_id", "code"),)

    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    code: Mapped[str] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(JSON)
