from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.enums import DeliveryStatus
from db.models.base import Base, Id, enum_type
from db.types import UtcDateTime


class Delivery(Base):
    """The ledger: one row per campaign and contact, the single truth of who got what."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index(None, "campaign_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(Id, ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        Id, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # The address at materialisation time, so a later contact edit cannot redirect a send.
    email: Mapped[str] = mapped_column(String(254))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A claimed row (status sending) is its claimer's until then; after it, the next claim
    # of the campaign takes it back and marks it a possible duplicate.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    message_id: Mapped[str] = mapped_column(String(255), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    # Set when a lease expired mid-send: the contact may have received two copies.
    possible_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Names the claim that holds the row, so only that claim records its result.
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    # A pending row that failed transiently is not claimed again before this time.
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
