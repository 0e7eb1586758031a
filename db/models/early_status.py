from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, Id
from db.types import UtcDateTime


class EarlyStatus(Base):
    """A status callback for a message whose sid no lead holds yet: Twilio can call back
    within milliseconds of the create, before the worker has recorded the sid. Applied
    (and deleted) when the sid is recorded; the catch-up job prunes what never matched."""

    __tablename__ = "early_statuses"
    __table_args__ = (Index(None, "message_sid"), Index(None, "received_at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # The channel whose webhook took it: the sid counts only in that channel's campaigns.
    channel_id: Mapped[int] = mapped_column(
        Id, ForeignKey("twilio_channels.id", ondelete="CASCADE")
    )
    message_sid: Mapped[str] = mapped_column(String(34))
    # Twilio's MessageStatus (delivered, read, failed, undelivered, canceled).
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str] = mapped_column(String(16), default="")
    error_message: Mapped[str] = mapped_column(String(300), default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
