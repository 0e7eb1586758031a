from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.enums import ContactSource
from db.models.base import Base, Id, Owned, enum_type
from db.types import UtcDateTime


class Contact(Owned, Base):
    __tablename__ = "contacts"
    # AUTOINCREMENT on SQLite: an id is never reused, so an unsubscribe link that names a
    # deleted contact never comes to mean a new one (db/unsubscribe.py).
    # A contact is reached by email, by phone or both; each identifies it within the
    # account when present (NULL when absent: NULLs never collide in a unique constraint,
    # on either database, so no partial index is needed).
    __table_args__ = (
        UniqueConstraint("account_id", "email"),
        UniqueConstraint("account_id", "phone"),
        CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="reachable"),
        # A WhatsApp reply finds its sender's contacts by this number too
        # (db/usecases/reply_senders.py): without it, a scan of the account's contacts.
        Index(None, "account_id", "whatsapp"),
        {"sqlite_autoincrement": True},
    )

    # Stored lowercased: an upsert key of importContacts. NULL for a phone-only contact.
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    # E.164 (db/phones.py), or NULL: an upsert key of importContacts and of leads.
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    # E.164 or empty; not a key (a family may share one WhatsApp number).
    whatsapp: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    source: Mapped[ContactSource] = mapped_column(
        enum_type(ContactSource), default=ContactSource.UNKNOWN
    )
    consent_email: Mapped[bool] = mapped_column(Boolean, default=True)
    consent_sms: Mapped[bool] = mapped_column(Boolean, default=True)
    consent_whatsapp: Mapped[bool] = mapped_column(Boolean, default=True)
    ltv_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    ltv_currency: Mapped[str] = mapped_column(String(3), default="USD")
    last_purchased_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ContactTag(Base):
    """A tag on a contact; a table rather than a JSON list so audiences resolve in SQL."""

    __tablename__ = "contact_tags"
    __table_args__ = (Index(None, "account_id", "tag", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(
        Id, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
