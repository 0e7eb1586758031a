"""The domain's enums. GraphQL exposes these same enums; values are the spec's (lowercase)."""

from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PAUSED = "paused"
    HALTED = "halted"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PARTIALLY_COMPLETED = "partially_completed"


class ChannelType(StrEnum):
    EMAIL = "email"


class ContactSource(StrEnum):
    PURCHASE = "purchase"
    LEAD = "lead"
    MIGRATION = "migration"
    UNKNOWN = "unknown"


class EmailChannelType(StrEnum):
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"
    BROADCAST = "broadcast"


class EmailChannelStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    PENDING = "pending"


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class DeliveryStatus(StrEnum):
    """One recipient's state in a campaign's delivery ledger."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The recipient withdrew consent for the channel (Twilio's 21610): never sent again.
    OPTED_OUT = "opted_out"
