from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.enums import ChannelStatus, TwilioChannelType
from db.models.base import Base, Owned, enum_type
from db.secrets import SecretColumn

DEFAULT_API_BASE_URL = "https://api.twilio.com"


class TwilioChannel(Owned, Base):
    """A Twilio account (or a Twilio-compatible endpoint) sending WhatsApp or SMS from one
    number or Messaging Service (exactly one of the two is set)."""

    __tablename__ = "twilio_channels"
    __table_args__ = (UniqueConstraint("account_id", "code"),)

    code: Mapped[str] = mapped_column(String(50))
    channel_type: Mapped[TwilioChannelType] = mapped_column(enum_type(TwilioChannelType))
    status: Mapped[ChannelStatus] = mapped_column(
        enum_type(ChannelStatus), default=ChannelStatus.ACTIVE
    )
    account_sid: Mapped[str] = mapped_column(String(34))
    # Encrypted (db/secrets.py): read it with keyring_of(session).reveal(); never returned.
    auth_token: Mapped[str] = mapped_column(SecretColumn)
    # E.164 ("+14155550123"), without the "whatsapp:" prefix the sender adds.
    from_number: Mapped[str | None] = mapped_column(String(16))
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34))
    # Messages per second across all workers (SMS: segments); None means no limit (so no
    # column default: SQLAlchemy would apply it to an explicit None).
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    # WhatsApp: Meta's messaging limit (unique recipients in a moving 24 hours); SMS:
    # messages a day (UTC).
    daily_quota: Mapped[int] = mapped_column(Integer)
    api_base_url: Mapped[str] = mapped_column(String(255), default=DEFAULT_API_BASE_URL)
