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
    WHATSAPP = "whatsapp"
    SMS = "sms"


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


class TwilioChannelType(StrEnum):
    """What a Twilio channel sends: the ChannelType values Twilio carries."""

    WHATSAPP = "whatsapp"
    SMS = "sms"


class ChannelStatus(StrEnum):
    """Whether a channel may send (the channel-neutral twin of EmailChannelStatus, which
    keeps its name in the API)."""

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
