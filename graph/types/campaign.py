from datetime import datetime
from decimal import Decimal
from typing import Self

import strawberry
from strawberry.scalars import JSON

from db import models
from db.enums import ChannelType as DbChannelType
from graph.context import Info
from graph.enums import (
    ApprovalStatus,
    CampaignStatus,
    CampaignType,
    ChannelType,
    ContentType,
    ExecutionStatus,
)
from graph.ids import encode_id
from graph.pagination import Connection
from graph.types import messaging_fields as mf
from graph.types.audience import Audience
from graph.types.email_channel import EmailChannel
from graph.types.email_template import EmailTemplate
from graph.types.lead import Lead
from graph.types.node import Node, money
from graph.types.twilio_channel import TwilioChannel


@strawberry.type(description="Real-time delivery progress of a started campaign.")
class CampaignExecution:
    status: ExecutionStatus = strawberry.field(description="State of the delivery run.")
    started_at: datetime | None = strawberry.field(description="When sending was started.")
    completed_at: datetime | None = strawberry.field(description="When the run ended.")
    expected_completion_at: datetime | None = strawberry.field(
        description="When the last message should go: the end of executionDurationMinutes, "
        "else an estimate from the pace so far."
    )
    paused_at: datetime | None = strawberry.field(description="When last paused.")
    resumed_at: datetime | None = strawberry.field(description="When last resumed.")
    cancelled_at: datetime | None = strawberry.field(description="When cancelled.")
    last_run_at: datetime | None = strawberry.field(
        description="When a worker's last run of it ended (a run sends for at most a minute)."
    )
    next_run_at: datetime | None = strawberry.field(
        description="When a halted run continues by itself."
    )
    total_contacts: int = strawberry.field(
        description="Recipients in the delivery ledger: an email campaign's audience members "
        "with an email and email consent; a WhatsApp/SMS campaign's leads to send (active, "
        "with consent and a value for every variable)."
    )
    total_skipped: int = strawberry.field(
        description="Left out: email audience members without email consent or an email; "
        "WhatsApp/SMS leads without consent for the channel (also those who opt out while "
        "it sends) or without a value for a variable of the content."
    )
    total_sent: int = strawberry.field(
        description="Messages the provider accepted (the SMTP server; Twilio)."
    )
    total_failed: int = strawberry.field(description="Recipients that could not be sent.")
    total_delivered: int = strawberry.field(description="Delivered (from delivery events).")
    total_bounced: int = strawberry.field(description="Bounced (from delivery events).")
    total_complained: int = strawberry.field(description="Spam complaints (from events).")
    total_opened: int | None = strawberry.field(
        description="Opened; null when the channel does not track engagement."
    )
    total_clicked: int | None = strawberry.field(
        description="Clicked; null when the channel does not track engagement."
    )
    error_message: str = strawberry.field(description="Why the run halted or failed; or empty.")

    @classmethod
    def from_model(cls, m: models.CampaignExecution) -> Self:
        return cls(
            status=m.status,
            started_at=m.started_at,
            completed_at=m.completed_at,
            expected_completion_at=m.expected_completion_at,
            paused_at=m.paused_at,
            resumed_at=m.resumed_at,
            cancelled_at=m.cancelled_at,
            last_run_at=m.last_run_at,
            next_run_at=m.next_run_at,
            total_contacts=m.total_contacts,
            total_skipped=m.total_skipped,
            total_sent=m.total_sent,
            total_failed=m.total_failed,
            total_delivered=m.total_delivered,
            total_bounced=m.total_bounced,
            total_complained=m.total_complained,
            total_opened=m.total_opened,
            total_clicked=m.total_clicked,
            error_message=m.error_message,
        )


@strawberry.type(description="A message sent to an audience through a channel.")
class Campaign(Node):
    pk: strawberry.Private[int]
    audience_id: strawberry.Private[int | None]
    twilio_channel_id: strawberry.Private[int | None]
    email_channel_id: strawberry.Private[int | None]
    email_template_id: strawberry.Private[int | None]
    name: str = strawberry.field(description="At most 255 characters.")
    description: str = strawberry.field(description="Free text.")
    channel_type: ChannelType = strawberry.field(description="Fixed at creation.")
    campaign_type: CampaignType = strawberry.field(
        description="MARKETING (sent to its recipients when started) or SERVICE (one message "
        "per triggering event); email campaigns are MARKETING. Fixed at creation."
    )
    status: CampaignStatus = strawberry.field(description="Changed only by actions.")
    scheduled_at: datetime | None = strawberry.field(
        description="When sending starts; null means as soon as the campaign is started."
    )
    execution_duration_minutes: int | None = strawberry.field(
        description="Spread the sends over this many minutes (1..1440); null sends as fast as "
        "the channel's rate limit allows."
    )
    from_email: str = strawberry.field(description="Empty: the channel's, then the account's.")
    from_name: str = strawberry.field(description="Empty: the channel's, then the account's.")
    reply_to_email: str = strawberry.field(description="Empty: the channel's, then account's.")
    reply_to_name: str = strawberry.field(description="Empty: the channel's, then account's.")
    utm_code: str = strawberry.field(
        description="Added to links as utm_campaign; at most 100 characters."
    )
    ltv: Decimal = strawberry.field(
        description="Revenue attributed to the campaign (addLtv); at most 9,999,999,999.99."
    )
    ltv_currency: str = strawberry.field(
        description="ISO 4217 currency of `ltv`; set by the first revenue added (default USD)."
    )
    created_at: datetime = strawberry.field(description="When the campaign was created.")
    updated_at: datetime = strawberry.field(description="When the campaign last changed.")

    # WhatsApp/SMS (null or empty for email campaigns).
    content_type: ContentType | None = strawberry.field(
        resolver=mf.content_type, description="The Twilio content type it sends."
    )
    content_context: JSON | None = strawberry.field(
        resolver=mf.content_context,
        description="The content, in Twilio's shape for its type (see contentType); for a "
        "contentSid, the template as read from Twilio.",
    )
    content_sid: str | None = strawberry.field(
        resolver=mf.content_sid,
        description="The Content resource it sends (HX…): the user's template, or the one "
        "Clarion created at submitCampaignForApproval; null before either.",
    )
    approval_status: ApprovalStatus | None = strawberry.field(
        resolver=mf.approval_status,
        description="The WhatsApp template's approval (WhatsApp starts only when APPROVED; SMS "
        "needs none).",
    )
    rejection_reason: str | None = strawberry.field(
        resolver=mf.rejection_reason, description="Why Meta rejected or paused the template."
    )
    enabled: datetime | None = strawberry.field(
        resolver=mf.enabled,
        description="The spec's switch: when it was enabled (started or last resumed; for a "
        "scheduled campaign, when it last changed) while it may send; null while it may not "
        "(draft, paused, finished). setCampaignEnabled turns it on or off.",
    )
    total_leads: int = strawberry.field(
        resolver=mf.total_leads, description="Active leads (WhatsApp/SMS); 0 for email."
    )
    messages_sent: int = strawberry.field(
        resolver=mf.messages_sent, description="Messages the provider took (execution's totalSent)."
    )
    messages_delivered: int = strawberry.field(
        resolver=mf.messages_delivered,
        description="Leads whose message Twilio reported delivered, each counted once (the "
        "execution's totalDelivered); 0 before the start and for email campaigns.",
    )
    messages_read: int = strawberry.field(
        resolver=mf.messages_read,
        description="Leads whose message Twilio reported read (WhatsApp), each counted once; "
        "0 before the start and for email campaigns.",
    )
    messages_replied: int = strawberry.field(
        resolver=mf.messages_replied,
        description="Leads that replied (their first reply; an opt-out keyword is not a "
        "reply), each counted once; 0 before the start and for email campaigns.",
    )
    messages_converted: int = strawberry.field(
        resolver=mf.messages_converted,
        description="Leads that converted, each counted once: revenue attributed to the lead "
        "by addLtv (leadId, contactPhone, or contactEmail of a contact with a lead in the "
        "campaign) or a tap on one of conversionPayloads, after its message was sent; 0 "
        "before the start and for email campaigns.",
    )
    reply_rate: float | None = strawberry.field(
        resolver=mf.reply_rate,
        description="messagesReplied / messagesSent as a percentage: leads that replied per "
        "message sent (Twilio took it and did not later report it failed or undelivered), "
        "rounded half up to 2 decimals, 0 to 100 (capped: a lead that replied after its "
        "message was reported failed is not among those sent); 0 when nothing was sent. "
        "Null for email campaigns.",
    )
    conversion_rate: float | None = strawberry.field(
        resolver=mf.conversion_rate,
        description="messagesConverted / messagesSent as a percentage: converted leads per "
        "message sent (as in replyRate), rounded half up to 2 decimals, 0 to 100; 0 when "
        "nothing was sent. Null for email campaigns.",
    )
    conversion_payloads: list[str] | None = strawberry.field(
        description="WhatsApp/SMS: the quick-reply ids whose tap converts the lead (empty for "
        "none); null for email campaigns."
    )
    custom_variable_keys: list[str] = strawberry.field(
        resolver=mf.custom_variable_keys,
        description="Every custom variable name its leads have had, sorted.",
    )
    context_variables: list[str] = strawberry.field(
        resolver=mf.context_variables_of,
        description="The {{variables}} its content uses, in order: each lead needs a value "
        "(its customVariables, or its contact's field of that name).",
    )
    body_preview: str | None = strawberry.field(
        resolver=mf.body_preview,
        description="The body (a card's title and subtitle) filled with the first active "
        "lead's values, else with samples.",
    )
    body_preview_segments: int | None = strawberry.field(
        resolver=mf.body_preview_segments,
        description="SMS only: the segments bodyPreview takes (GSM-7: 160 in one, 153 a part; "
        "one character outside GSM-7 makes it UCS-2: 70 in one, 67 a part). The channel's "
        "rate limit counts SMS in segments.",
    )
    leads: Connection[Lead] = strawberry.field(
        resolver=mf.leads,
        description="Its leads (WhatsApp/SMS; none for email), newest first; `status` keeps "
        "those with one of these statuses (at most 5, TOO_MANY).",
    )

    @strawberry.field(
        description="Who receives it: an email campaign's audience; a WhatsApp/SMS "
        "campaign's optional audience (members with a number and consent join its leads "
        "at start). Null when it has none."
    )
    async def audience(self, info: Info) -> Audience | None:
        if self.audience_id is None:
            return None
        row = await info.context.loaders.audience.load(self.audience_id)
        return Audience.from_model(row) if row else None

    @strawberry.field(description="The Twilio channel it sends through (WhatsApp/SMS).")
    async def twilio_channel(self, info: Info) -> TwilioChannel | None:
        if self.twilio_channel_id is None:
            return None
        row = await info.context.loaders.twilio_channel.load(self.twilio_channel_id)
        return TwilioChannel.from_model(row) if row else None

    @strawberry.field(description="The channel it sends through (email campaigns).")
    async def email_channel(self, info: Info) -> EmailChannel | None:
        if self.email_channel_id is None:
            return None
        row = await info.context.loaders.email_channel.load(self.email_channel_id)
        return EmailChannel.from_model(row) if row else None

    @strawberry.field(description="The template it renders (email campaigns).")
    async def email_template(self, info: Info) -> EmailTemplate | None:
        if self.email_template_id is None:
            return None
        row = await info.context.loaders.email_template.load(self.email_template_id)
        return EmailTemplate.from_model(row) if row else None

    @strawberry.field(description="Delivery progress; null until the campaign starts sending.")
    async def execution(self, info: Info) -> CampaignExecution | None:
        row = await info.context.loaders.execution_by_campaign.load(self.pk)
        return CampaignExecution.from_model(row) if row else None

    @classmethod
    def from_model(cls, m: models.Campaign) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Campaign", m.id)),
            pk=m.id,
            audience_id=m.audience_id,
            twilio_channel_id=m.twilio_channel_id,
            email_channel_id=m.email_channel_id,
            email_template_id=m.email_template_id,
            name=m.name,
            description=m.description,
            channel_type=m.channel_type,
            campaign_type=m.campaign_type,
            status=m.status,
            scheduled_at=m.scheduled_at,
            execution_duration_minutes=m.execution_duration_minutes,
            from_email=m.from_email,
            from_name=m.from_name,
            reply_to_email=m.reply_to_email,
            reply_to_name=m.reply_to_name,
            utm_code=m.utm_code,
            ltv=money(m.ltv_cents),
            ltv_currency=m.ltv_currency,
            created_at=m.created_at,
            updated_at=m.updated_at,
            conversion_payloads=(
                None if m.channel_type is DbChannelType.EMAIL else list(m.conversion_payloads or [])
            ),
        )
