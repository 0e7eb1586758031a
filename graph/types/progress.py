from datetime import datetime
from typing import Self

import strawberry

from graph.enums import CampaignStatus, ExecutionStatus
from graph.ids import encode_id
from jobs.progress import Snapshot


@strawberry.type(
    description="A campaign's delivery progress at one moment, as subscriptions stream it."
)
class ExecutionProgress:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    campaign_status: CampaignStatus = strawberry.field(description="The campaign's status.")
    status: ExecutionStatus | None = strawberry.field(
        description="The execution's status; null before the campaign starts."
    )
    total_contacts: int = strawberry.field(description="Recipients in the delivery ledger.")
    total_sent: int = strawberry.field(
        description="Messages the provider accepted (the SMTP server; Twilio)."
    )
    total_failed: int = strawberry.field(description="Recipients that could not be sent.")
    total_skipped: int = strawberry.field(
        description="Recipients left out: without consent or an address for the channel, "
        "opted out, or without a value for a variable of the content."
    )
    started_at: datetime | None = strawberry.field(description="When sending was started.")
    expected_completion_at: datetime | None = strawberry.field(
        description="The end of executionDurationMinutes, else an estimate from the pace so far."
    )
    next_run_at: datetime | None = strawberry.field(
        description="When a halted execution continues by itself."
    )
    error_message: str = strawberry.field(description="Why it halted or failed; or empty.")
    send_rate_per_minute: int = strawberry.field(
        description="Messages sent in the last minute, by every worker together."
    )
    eta: datetime | None = strawberry.field(
        description="When the rest would be sent at that rate; null when nothing is sending."
    )
    at: datetime = strawberry.field(description="When this was read.")
    total_delivered: int | None = strawberry.field(
        description="WhatsApp/SMS: messages the provider reported delivered (or read); "
        "null for email."
    )
    total_read: int | None = strawberry.field(
        description="WhatsApp/SMS: messages reported read (WhatsApp only reports it); null "
        "for email."
    )
    total_replied: int | None = strawberry.field(
        description="WhatsApp/SMS: leads that replied (each counted once); null for email."
    )
    total_converted: int | None = strawberry.field(
        description="WhatsApp/SMS: leads that converted (revenue attributed to them, or a "
        "tap on a quick-reply the campaign names as its conversion); null for email."
    )
    reply_rate: float | None = strawberry.field(
        description="WhatsApp/SMS: totalReplied / totalSent as a percentage with two "
        "decimals, 0 while nothing was sent; null for email."
    )
    conversion_rate: float | None = strawberry.field(
        description="WhatsApp/SMS: totalConverted / totalSent as a percentage with two "
        "decimals, 0 while nothing was sent; null for email."
    )

    @classmethod
    def from_snapshot(cls, s: Snapshot) -> Self:
        return cls(
            campaign_id=strawberry.ID(encode_id("Campaign", s.campaign_id)),
            campaign_status=s.campaign_status,
            status=s.execution_status,
            total_contacts=s.total_contacts,
            total_sent=s.total_sent,
            total_failed=s.total_failed,
            total_skipped=s.total_skipped,
            started_at=s.started_at,
            expected_completion_at=s.expected_completion_at,
            next_run_at=s.next_run_at,
            error_message=s.error_message,
            send_rate_per_minute=s.send_rate_per_minute,
            eta=s.eta,
            at=s.at,
            total_delivered=s.total_delivered,
            total_read=s.total_read,
            total_replied=s.total_replied,
            total_converted=s.total_converted,
            reply_rate=s.reply_rate,
            conversion_rate=s.conversion_rate,
        )
