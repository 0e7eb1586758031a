from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.enums import DeliveryStatus
from db.models.base import Base, Id, enum_type
from db.types import UtcDateTime


class Delivery(Base):
    """The ledger: one row per campaign and contact, the single truth of who got what."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # One row per contact in a campaign; a service campaign's trigger makes one more
        # row per idempotency key (a marketing row's key is "").
        UniqueConstraint("campaign_id", "contact_id", "trigger_key"),
        Index(
            "uq_deliveries_campaign_id_trigger",
            "campaign_id",
            "trigger_key",
            unique=True,
            sqlite_where=text("trigger_key <> ''"),
            postgresql_where=text("trigger_key <> ''"),
        ),
        Index(None, "campaign_id", "status", "id"),
        # Status callbacks find their row by the provider's message id.
        Index(None, "message_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        Id, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # Where the message goes, fixed when the row is made (so a later contact edit cannot
    # redirect a send): an email address, or a number in E.164, by the campaign's family.
    address: Mapped[str] = mapped_column(String(254))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A claimed row (status sending) is its claimer's until then; after it, the next claim
    # of the campaign takes it back and marks it a possible duplicate.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Our id of the message (email's Message-ID, set at the claim) or the provider's
    # (Twilio's MessageSid, set when it answers).
    message_id: Mapped[str] = mapped_column(String(255), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    # Set when a lease expired mid-send: the contact may have received two copies.
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Names the claim that holds the row, so only that claim records its result.
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    # A pending row that failed transiently is not claimed again before this time.
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # The row's own template variables (a lead's custom variables); None for none.
    variables: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    # The provider's error code of the last failure (Twilio's 21211, …), "" for none.
    error_code: Mapped[str] = mapped_column(String(16), default="")
    # A WhatsApp/SMS campaign's lead is a ledger row made before the start; removeLeads
    # clears this (a pending row is cancelled too), addLeads sets it again.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The lead was added by its contact (a conversation user), not by a number.
    by_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the row was first claimed (the database's time): no message of it can be older,
    # so a provider's lookup of a lost answer searches from then (jobs/channels/twilio).
    first_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # A service campaign's trigger: the caller's idempotency key ("" for a marketing row).
    trigger_key: Mapped[str] = mapped_column(String(255), default="")
    # What the provider reported after sending (status callbacks, or the catch-up job's
    # fetch) and what the recipient did; each is set once and never moves back.
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # When the lead converted: revenue attributed to it, or a quick-reply tap the campaign
    # names as its conversion.
    converted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # When the catch-up job last fetched this lead's message from the provider (its
    # callbacks never came): it is not fetched again soon after.
    status_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
