from datetime import date

from sqlalchemy import Date, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, Id


class EmailChannelUsage(Base):
    """Messages a channel has claimed for sending on one UTC day, against its daily quota."""

    __tablename__ = "email_channel_usage"

    channel_id: Mapped[int] = mapped_column(
        Id, ForeignKey("email_channels.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
