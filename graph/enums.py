"""The domain enums, exposed to GraphQL with a description for every value."""

from enum import StrEnum

import strawberry

from db.enums import (
    ApprovalCategory,
    ApprovalStatus,
    CampaignStatus,
    CampaignType,
    ChannelStatus,
    ChannelType,
    ConsentSource,
    ContactSource,
    ContentType,
    EmailChannelStatus,
    EmailChannelType,
    ExecutionStatus,
    LeadStatus,
    OptOutKeyword,
    SmtpSecurity,
)
from db.errors import ErrorCode as UserErrorCode


def expose(
    enum: type[StrEnum], description: str, values: dict[str, str], name: str | None = None
) -> None:
    """Registers `enum` with Strawberry; `values` maps each member's value to its description."""
    missing = {m.value for m in enum} ^ set(values)
    assert not missing, f"{enum.__name__}: describe exactly its values, not {missing}"
    strawberry.enum(enum, name=name, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.value]


expose(
    CampaignStatus,
    "Where a campaign is in its life. Changed only by actions (start, pause, …).",
    {
        "draft": "Being prepared; editable; nothing sent.",
        "scheduled": "Will start by itself at scheduledAt; editable.",
        "running": "Sending (or halted by the system and continuing by itself).",
        "completed": "Finished; every recipient was attempted.",
        "paused": "Stopped by a user; resume continues with the unsent recipients.",
        "cancelled": "Stopped for good by a user.",
        "failed": "Ended without sending, e.g. the channel refused every message.",
    },
)
expose(
    ExecutionStatus,
    "The state of a campaign's delivery run.",
    {
        "pending": "Created; waiting for a worker to take it.",
        "processing": "A worker is sending.",
        "paused": "Stopped by a user.",
        "halted": "Stopped by the system (daily quota, provider errors); continues by itself "
        "at nextRunAt.",
        "completed": "Every recipient was sent.",
        "failed": "Nothing could be sent; see errorMessage.",
        "cancelled": "Stopped for good by a user.",
        "partially_completed": "Finished; some recipients failed.",
    },
)
expose(
    ChannelType,
    "The kind of channel a campaign sends through.",
    {
        "email": "Email over SMTP.",
        "whatsapp": "WhatsApp over Twilio (or a Twilio-compatible endpoint).",
        "sms": "SMS over Twilio (or a Twilio-compatible endpoint).",
    },
)
expose(
    ChannelStatus,
    "Whether a channel (Twilio) may send. Only active channels start campaigns.",
    {
        "active": "May send.",
        "suspended": "Sending stopped (by an operator or the provider).",
        "pending": "Set up but not yet verified.",
    },
)
expose(
    ContactSource,
    "How a contact came to the account.",
    {
        "purchase": "Bought something.",
        "lead": "Left their details (form, ad, …).",
        "migration": "Imported from another system.",
        "unknown": "Not recorded (the default).",
    },
)
expose(
    EmailChannelType,
    "What an email channel is used for.",
    {
        "transactional": "One-to-one messages triggered by an action.",
        "marketing": "Campaigns to contacts who consented.",
        "broadcast": "Announcements to a whole audience.",
    },
)
expose(
    EmailChannelStatus,
    "Whether an email channel may send. Only active channels start campaigns.",
    {
        "active": "May send.",
        "suspended": "Sending stopped (by an operator or the provider).",
        "pending": "Set up but not yet verified.",
    },
)
expose(
    SmtpSecurity,
    "How the SMTP connection is protected.",
    {
        "none": "Plain text; only for a relay on a trusted network.",
        "starttls": "Upgrade with STARTTLS (usually port 587).",
        "tls": "TLS from the first byte (usually port 465).",
    },
)
expose(
    UserErrorCode,
    "Why a mutation was refused. A refused mutation changes nothing.",
    {
        "not_found": "The object named does not exist in this account.",
        "required": "A required value is missing or blank.",
        "invalid": "The value has the wrong form (email, code, date in the past, …).",
        "too_long": "The text is longer than the field allows.",
        "out_of_range": "The number is outside the field's range.",
        "duplicate": "Another object of the account already uses this value.",
        "invalid_state": "The action is not allowed in the object's current status.",
        "not_editable": "The field cannot change in the campaign's current status.",
        "empty_audience": "The audience has no contact that may be emailed.",
        "template_syntax": "The text is not a valid Jinja2 template.",
        "template_too_expensive": "Rendering the template goes over the render budget (time "
        "per message, output size, memory, operations on huge values): see the template "
        "fields' descriptions.",
        "send_failed": "The message could not be sent (SMTP server refused or unreachable, "
        "or no worker answered).",
        "currency_mismatch": "Revenue in another currency than the one already recorded.",
        "missing_sender": "No from or reply-to address on the campaign, channel or account.",
        "in_use": "Campaigns still use the object.",
        "too_many": "More items than one request may carry.",
        "host_not_allowed": "The SMTP host is not among the server's allowed hosts "
        "(CLARION_SMTP_ALLOWED_HOSTS).",
        "rate_limited": "Too many requests of this kind; the message says when to retry.",
        "channel_suspended": "The channel is suspended (or pending): it sends nothing.",
        "quota_exceeded": "The channel's daily quota is used up for today (UTC).",
        "not_approved": "A WhatsApp campaign's template is not approved (yet): see "
        "approvalStatus and submitCampaignForApproval.",
        "not_a_service_campaign": "triggerServiceMessage names a campaign that is not a "
        "SERVICE (WhatsApp/SMS) campaign.",
        "campaign_not_enabled": "The service campaign takes no trigger now: never enabled "
        "(draft, scheduled) or ended (completed, cancelled, failed).",
        "idempotency_key_reused": "The idempotency key was used before with another lead or "
        "other variables: a key names one message.",
        "opted_out": "The contact withdrew consent for the campaign's channel: nothing is sent.",
    },
    name="UserErrorCode",
)

expose(
    CampaignType,
    "What sends a WhatsApp/SMS campaign's messages (email campaigns are MARKETING).",
    {
        "marketing": "Sent to its leads when started, while enabled.",
        "service": "One message per triggering event (triggerServiceMessage), while enabled "
        "(order confirmations and the like). It may be enabled without leads; its execution "
        "stays processing when every trigger is sent (it ends only when cancelled); paused, "
        "it holds triggers until enabled again.",
    },
)

expose(
    ContentType,
    "Twilio's content types (twilio/<type>) a WhatsApp/SMS campaign sends; SMS sends TEXT "
    "and MEDIA.",
    {
        "text": "twilio/text: a body of at most 1,600 characters.",
        "media": "twilio/media: media URLs (WhatsApp: 1, MMS: 10) and an optional body.",
        "card": "twilio/card (WhatsApp): a title, subtitle, media and up to 10 buttons.",
        "call_to_action": "twilio/call-to-action (WhatsApp): a body of at most 640 and up "
        "to 2 URL buttons, one phone or voice-call button, one copy-code button.",
        "quick_reply": "twilio/quick-reply (WhatsApp): a body of at most 1,024 and 1-10 "
        "quick replies (a title of at most 20; an id of at most 200 that comes back as "
        "ButtonPayload).",
    },
)

expose(
    ApprovalStatus,
    "A WhatsApp template's approval by Meta, as Twilio reports it. SMS needs none.",
    {
        "unsubmitted": "Not submitted: see submitCampaignForApproval.",
        "received": "Twilio received the request.",
        "pending": "Meta is reviewing it.",
        "approved": "Approved: the campaign may start.",
        "rejected": "Rejected: see rejectionReason; change the content and submit again.",
        "paused": "Paused by Meta (poor quality): a running campaign halts with the reason.",
        "disabled": "Disabled by Meta: a running campaign halts with the reason.",
    },
)

expose(
    ApprovalCategory,
    "The WhatsApp template category an approval request names (Meta prices and reviews by it).",
    {
        "marketing": "Promotions, offers, news.",
        "utility": "About a transaction the user made (orders, bookings).",
        "authentication": "One-time codes.",
    },
)


expose(
    LeadStatus,
    "A WhatsApp/SMS lead's message status.",
    {
        "pending": "Not sent yet (or being sent now).",
        "sent": "Twilio took the message (see messageSid); nothing more reported yet.",
        "delivered": "Twilio reported the message delivered to the phone (deliveredAt).",
        "read": "Twilio reported the message read (WhatsApp; readAt).",
        "replied": "The lead answered the message (repliedAt; see replies). Final.",
        "not_received": "It could not be sent, or Twilio reported it failed or undelivered: "
        "see errorCode and errorMessage.",
        "opted_out": "The contact withdrew consent for the channel: never sent.",
        "cancelled": "Not sent: the lead was removed, the campaign cancelled, or a variable "
        "the content uses had no value for it (see errorMessage).",
    },
)

expose(
    OptOutKeyword,
    "What an inbound message asked of its sender's consent for the channel: Twilio's "
    "standard keywords (the whole message, one word, any case), Twilio's OptOutType on SMS "
    'with Advanced Opt-Out, or WhatsApp\'s "Stop promotions" button.',
    {
        "stop": 'STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT or "Stop '
        'promotions": consent withdrawn. Not a reply: the lead is not marked replied.',
        "start": "START, UNSTOP (and YES on SMS): consent given back. Not a reply.",
        "help": "HELP or INFO (SMS): kept, changes nothing. Not a reply.",
    },
)


expose(
    ConsentSource,
    "Why a contact's consent for a channel changed.",
    {
        "keyword": "The contact texted an opt-out or opt-in keyword (STOP, START, …), or "
        "Twilio reported the opt-out.",
        "provider": "The provider refused a message because the contact opted out "
        "(e.g. Twilio 21610); the reason names the error.",
        "unsubscribe_link": "The contact used the unsubscribe link of an email.",
        "api": "A user changed it through the API (updateContact, importContacts).",
    },
)


__all__ = [
    "ApprovalCategory",
    "ApprovalStatus",
    "CampaignStatus",
    "CampaignType",
    "ChannelStatus",
    "ChannelType",
    "ConsentSource",
    "ContactSource",
    "ContentType",
    "EmailChannelStatus",
    "EmailChannelType",
    "ExecutionStatus",
    "LeadStatus",
    "OptOutKeyword",
    "SmtpSecurity",
    "UserErrorCode",
]
