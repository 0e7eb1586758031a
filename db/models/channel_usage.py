from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base


class ChannelUsage(Base):
    """Messages a channel has claimed for sending on one UTC day, against its daily quota.

    Keyed by the channel's key (`<family>:<id>`, see db/kinds), as channels of different
    families live in tables of their own; a deleted channel's rows are deleted with it.
    """

    __tablename__ = "channel_usage"

    channel_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
