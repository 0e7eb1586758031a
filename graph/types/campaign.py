from datetime import datetime
from decimal import Decimal
from typing import Self

import strawberry

from db import models
from graph.context import Info
from graph.enums import CampaignStatus, ChannelType, ExecutionStatus
from graph.ids import encode_id
from graph.types.audience import Audience
from graph.types.email_channel import EmailChannel
from graph.types.email_template import EmailTemplate
from graph.types.node import Node, money


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
        description="Recipients in the delivery ledger (audience members with an email and "
        "email consent)."
    )
    total_skipped: int = strawberry.field(
        description="Audience members left out at start because they lack email consent or "
        "an email (phone-only contacts)."
    )
    total_sent: int = strawberry.field(description="Messages accepted by the SMTP server.")
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
    audience_id: strawberry.Private[int]
    email_channel_id: strawberry.Private[int | None]
    email_template_id: strawberry.Private[int | None]
    name: str = strawberry.field(description="At most 255 characters.")
    description: str = strawberry.field(description="Free text.")
    channel_type: ChannelType = strawberry.field(description="Fixed at creation.")
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

    @strawberry.field(description="Who receives it.")
    async def audience(self, info: Info) -> Audience:
        row = await info.context.loaders.audience.load(self.audience_id)
        assert row is not None
        return Audience.from_model(row)

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
            email_channel_id=m.email_channel_id,
            email_template_id=m.email_template_id,
            name=m.name,
            description=m.description,
            channel_type=m.channel_type,
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
        )
