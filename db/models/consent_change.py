from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from db.enums import ChannelType, ConsentSource
from db.models.base import Base, Id, enum_type
from db.types import UtcDateTime, utcnow


class ConsentChange(Base):
    """One change of a contact's consent for a channel: when, which way and why."""

    __tablename__ = "consent_changes"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        Id, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel_type: Mapped[ChannelType] = mapped_column(enum_type(ChannelType))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[ConsentSource] = mapped_column(enum_type(ConsentSource))
    # In words: "Texted STOP", "Twilio error 21610 (unsubscribed recipient)", ...
    reason: Mapped[str] = mapped_column(String(255))
    # The inbound message or the lead that caused it, when one did.
    reply_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("replies.id", ondelete="SET NULL"), default=None
    )
    delivery_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("deliveries.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
