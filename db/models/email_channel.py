from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.enums import EmailChannelStatus, EmailChannelType, SmtpSecurity
from db.models.base import Base, Owned, enum_type
from db.secrets import SecretColumn


class EmailChannel(Owned, Base):
    __tablename__ = "email_channels"
    __table_args__ = (UniqueConstraint("account_id", "code"),)

    code: Mapped[str] = mapped_column(String(50))
    channel_type: Mapped[EmailChannelType] = mapped_column(enum_type(EmailChannelType))
    status: Mapped[EmailChannelStatus] = mapped_column(
        enum_type(EmailChannelStatus), default=EmailChannelStatus.ACTIVE
    )
    daily_quota: Mapped[int] = mapped_column(Integer, default=1000)
    # Messages per second across all workers; None means no limit (so no column default:
    # SQLAlchemy would apply it to an explicit None).
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    enable_engagement_tracking: Mapped[bool] = mapped_column(Boolean, default=False)

    smtp_host: Mapped[str] = mapped_column(String(255))
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_security: Mapped[SmtpSecurity] = mapped_column(
        enum_type(SmtpSecurity), default=SmtpSecurity.STARTTLS
    )
    smtp_username: Mapped[str] = mapped_column(String(255), default="")
    # Encrypted (db/secrets.py): read it with keyring_of(session).reveal().
    smtp_password: Mapped[str] = mapped_column(SecretColumn, default="")

    default_from_email: Mapped[str] = mapped_column(String(254), default="")
    default_from_name: Mapped[str] = mapped_column(String(255), default="")
    default_reply_to_email: Mapped[str] = mapped_column(String(254), default="")
    default_reply_to_name: Mapped[str] = mapped_column(String(255), default="")
