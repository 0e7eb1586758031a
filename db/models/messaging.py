from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.enums import ApprovalStatus, ContentType
from db.models.base import Base, Id, enum_type
from db.types import UtcDateTime, utcnow


class MessagingContent(Base):
    """What a WhatsApp/SMS campaign sends: a Twilio content type and its context (JSON,
    validated by jobs/channels/twilio/content.py), or a template of the user's Twilio
    account (`content_sid`); and the WhatsApp approval of it."""

    __tablename__ = "messaging_contents"

    campaign_id: Mapped[int] = mapped_column(
        Id, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[ContentType] = mapped_column(enum_type(ContentType))
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # A Content resource the user made in Twilio (HX…), "" when Clarion makes one from
    # `context` (at the approval request, or at start for SMS).
    content_sid: Mapped[str] = mapped_column(String(34), default="")
    # The Content resource Clarion made from `context` (HX…), "" before it did.
    created_content_sid: Mapped[str] = mapped_column(String(34), default="")
    approval_status: Mapped[ApprovalStatus] = mapped_column(
        enum_type(ApprovalStatus), default=ApprovalStatus.UNSUBMITTED
    )
    approval_category: Mapped[str] = mapped_column(String(20), default="")
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    # When the approval status was last read from Twilio.
    approval_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Every custom variable name the campaign's leads have had (the spec's
    # custom_variable_keys), kept as leads are added.
    variable_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
