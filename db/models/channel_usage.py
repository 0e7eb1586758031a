from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base
from db.types import UtcDateTime


class ChannelUsage(Base):
    """Messages a channel has claimed for sending in one bucket of its quota window (a UTC
    day, or an hour of a moving 24 hours: db/quota.py).

    Keyed by the channel's key (`<family>:<id>`, see db/kinds), as channels of different
    families live in tables of their own.
    """

    __tablename__ = "channel_usage"

    channel_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
