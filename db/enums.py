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
    # The recipient withdrew consent for the channel (Twilio's 21610): never sent again.
    OPTED_OUT = "opted_out"


class CampaignType(StrEnum):
    """What starts a WhatsApp/SMS campaign's messages (the spec's campaign_type)."""

    MARKETING = "marketing"  # sent to its leads when started, while enabled
    SERVICE = "service"  # one message per event that triggers it, while enabled


class ContentType(StrEnum):
    """Twilio's content types a WhatsApp/SMS campaign may send (twilio/<type>)."""

    TEXT = "text"
    MEDIA = "media"
    CARD = "card"
    CALL_TO_ACTION = "call_to_action"
    QUICK_REPLY = "quick_reply"


class ApprovalStatus(StrEnum):
    """A WhatsApp template's approval by Meta, as Twilio reports it."""

    UNSUBMITTED = "unsubmitted"
    RECEIVED = "received"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAUSED = "paused"
    DISABLED = "disabled"


class ApprovalCategory(StrEnum):
    """The WhatsApp template category an approval request names."""

    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"


class LeadStatus(StrEnum):
    """A WhatsApp/SMS lead's message status, as the spec names it: its ledger row's status,
    carried forward by what the provider and the recipient reported after sending
    (db/lead_status.py derives it)."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    REPLIED = "replied"
    NOT_RECEIVED = "not_received"
    OPTED_OUT = "opted_out"
    CANCELLED = "cancelled"


class ConsentSource(StrEnum):
    """Why a contact's consent for a channel changed."""

    KEYWORD = "keyword"  # the contact texted STOP / START (or Twilio's OptOutType said so)
    PROVIDER = "provider"  # the provider refused or reported an opt-out (21610, 63014)
    UNSUBSCRIBE_LINK = "unsubscribe_link"  # an email's unsubscribe link
    API = "api"  # a user changed it through the API


class OptOutKeyword(StrEnum):
    """What an inbound message asked of its sender's consent (a keyword, Twilio's
    OptOutType, or WhatsApp's "Stop promotions" button); an ordinary reply is none."""

    STOP = "stop"  # withdraw consent for the channel
    START = "start"  # give it back
    HELP = "help"  # asks for help: kept, changes nothing
