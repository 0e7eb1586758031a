from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, Id
from db.types import UtcDateTime, utcnow


class Reply(Base):
    """A message a contact sent to a channel's number (Twilio's inbound webhook), tied to
    the campaign lead it answers when one is found."""

    __tablename__ = "replies"
    # Twilio may post the same inbound message twice: it is kept once.
    __table_args__ = (UniqueConstraint("account_id", "message_sid"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    twilio_channel_id: Mapped[int] = mapped_column(
        Id, ForeignKey("twilio_channels.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        Id, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # The lead it answers; None when none was found (a stranger, or nothing in the window).
    delivery_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("deliveries.id", ondelete="SET NULL"), index=True, default=None
    )
    message_sid: Mapped[str] = mapped_column(String(34))
    body: Mapped[str] = mapped_column(Text, default="")
    button_payload: Mapped[str] = mapped_column(String(255), default="")
    button_text: Mapped[str] = mapped_column(String(255), default="")
    media_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The opt-out keyword it was ("stop", "start", "help"), "" for an ordinary reply.
    opt_out: Mapped[str] = mapped_column(String(16), default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
