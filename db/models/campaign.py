from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.enums import CampaignStatus, CampaignType, ChannelType, ExecutionStatus
from db.models.base import Base, Id, Owned, enum_type
from db.types import UtcDateTime, utcnow


class Campaign(Owned, Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index(None, "account_id", "status"),)

    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    channel_type: Mapped[ChannelType] = mapped_column(
        enum_type(ChannelType), default=ChannelType.EMAIL
    )
    # Email campaigns send to an audience; a WhatsApp/SMS campaign to its leads and, when
    # it has one, to the audience's members with a number and consent.
    audience_id: Mapped[int | None] = mapped_column(Id, ForeignKey("audiences.id"), index=True)
    email_channel_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("email_channels.id"), index=True
    )
    email_template_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("email_templates.id"), index=True
    )
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    execution_duration_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    from_email: Mapped[str] = mapped_column(String(254), default="")
    from_name: Mapped[str] = mapped_column(String(255), default="")
    reply_to_email: Mapped[str] = mapped_column(String(254), default="")
    reply_to_name: Mapped[str] = mapped_column(String(255), default="")
    utm_code: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[CampaignStatus] = mapped_column(
        enum_type(CampaignStatus), default=CampaignStatus.DRAFT
    )
    ltv_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    ltv_currency: Mapped[str] = mapped_column(String(3), default="USD")
    # WhatsApp/SMS campaigns (channel_type whatsapp or sms): their channel and type
    # (sort_order: after the timestamps, where the migration added them).
    twilio_channel_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("twilio_channels.id"), index=True, default=None, sort_order=1
    )
    campaign_type: Mapped[CampaignType] = mapped_column(
        enum_type(CampaignType), default=CampaignType.MARKETING, sort_order=1
    )
    # The quick-reply payloads whose tap counts as the lead's conversion (WhatsApp/SMS);
    # None for none.
    conversion_payloads: Mapped[list[str] | None] = mapped_column(JSON, default=None, sort_order=1)

    execution: Mapped["CampaignExecution | None"] = relationship(
        back_populates="campaign", lazy="raise", uselist=False
    )


class CampaignExecution(Base):
    """Delivery progress of a campaign; created when it starts, one per campaign."""

    __tablename__ = "campaign_executions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        Id, ForeignKey("campaigns.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[ExecutionStatus] = mapped_column(
        enum_type(ExecutionStatus), default=ExecutionStatus.PENDING
    )
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    expected_completion_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    resumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, index=True)
    total_contacts: Mapped[int] = mapped_column(Integer, default=0)
    # Audience members left out because they withdrew email consent.
    total_skipped: Mapped[int] = mapped_column(Integer, default=0)
    total_sent: Mapped[int] = mapped_column(Integer, default=0)
    total_failed: Mapped[int] = mapped_column(Integer, default=0)
    total_delivered: Mapped[int] = mapped_column(Integer, default=0)
    total_bounced: Mapped[int] = mapped_column(Integer, default=0)
    total_complained: Mapped[int] = mapped_column(Integer, default=0)
    # NULL when the channel does not track engagement.
    total_opened: Mapped[int | None] = mapped_column(Integer, default=None)
    total_clicked: Mapped[int | None] = mapped_column(Integer, default=None)
    error_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # What the campaign sends, fixed when it starts (template source, resolved sender, UTM
    # code; see db/usecases/send_plan.py), so editing the template, a channel's or the
    # account's defaults meanwhile does not change its messages halfway.
    send_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # WhatsApp/SMS: leads whose message was read, that replied, that converted (each
    # counted once, when its time is first set on the lead).
    total_read: Mapped[int] = mapped_column(Integer, default=0)
    total_replied: Mapped[int] = mapped_column(Integer, default=0)
    total_converted: Mapped[int] = mapped_column(Integer, default=0)

    campaign: Mapped[Campaign] = relationship(back_populates="execution", lazy="raise")
