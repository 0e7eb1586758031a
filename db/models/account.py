from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, Id, Timestamped
from db.types import UtcDateTime


class Account(Timestamped, Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(255))
    default_from_email: Mapped[str] = mapped_column(String(254), default="")
    default_from_name: Mapped[str] = mapped_column(String(255), default="")
    default_reply_to_email: Mapped[str] = mapped_column(String(254), default="")
    default_reply_to_name: Mapped[str] = mapped_column(String(255), default="")


class ApiKey(Timestamped, Base):
    """An API key; only its SHA-256 is stored (keys are 256-bit random, so no slow hash needed)."""

    __tablename__ = "api_keys"

    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Updated at most once a minute per key (db/usecases/api_keys.py).
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, sort_order=1)
