"""triggerServiceMessage: a service campaign's one message for an event."""

import contextlib
from typing import Any

import strawberry
from redis.exceptions import RedisError
from strawberry.scalars import JSON
from strawberry.types.base import get_object_definition

from db.enums import CampaignStatus
from db.errors import not_found
from db.usecases.lead_checks import LeadInput
from db.usecases.service_triggers import Triggered, trigger_service_message
from graph.context import Info
from graph.errors import UserError
from graph.ids import decode_as
from graph.mutations.messaging import LeadInput as LeadFields
from graph.mutations.support import pk, write
from graph.types.campaign import Campaign
from graph.types.lead import Lead
from jobs.lead_events import announce
from jobs.queue import enqueue_send


def field_description(name: str) -> str:
    """addLeads' description of the lead's field: the same rules."""
    for definition in get_object_definition(LeadFields, strict=True).fields:
        if definition.python_name == name:
            return definition.description or ""
    raise KeyError(name)


@strawberry.input(
    description="One message of a SERVICE campaign: its lead (exactly one of phoneNumber "
    "and conversationUserId, as in addLeads) and the caller's idempotency key."
)
class TriggerServiceMessageInput:
    campaign_id: strawberry.ID = strawberry.field(
        description="The SERVICE campaign's global ID (WhatsApp or SMS)."
    )
    idempotency_key: str = strawberry.field(
        description="Names the event (an order id, a webhook's delivery id): 1-255 printable "
        "characters, no control characters, unique within the campaign. The same key again "
        "with the same lead and variables sends nothing more and answers with the same lead "
        "(replayed: true), however many requests race; with another lead or other variables "
        "it is refused with IDEMPOTENCY_KEY_REUSED (as Stripe does). A refused call does not "
        "use the key."
    )
    phone_number: str | None = strawberry.field(
        default=None, description=field_description("phone_number")
    )
    conversation_user_id: strawberry.ID | None = strawberry.field(
        default=None, description=field_description("conversation_user_id")
    )
    custom_variables: JSON | None = strawberry.field(
        default=None, description=field_description("custom_variables")
    )


@strawberry.type(description="Result of triggerServiceMessage.")
class TriggerServiceMessagePayload:
    lead: Lead | None = strawberry.field(
        default=None,
        description="The message's lead: pending until the campaign's run sends it (at once "
        "within the channel's pacing while enabled; after setCampaignEnabled(true) when "
        "paused). Null when refused.",
    )
    replayed: bool = strawberry.field(
        default=False,
        description="True when the key was used before: the lead is that call's, nothing new "
        "is sent.",
    )
    campaign: Campaign | None = strawberry.field(default=None, description="Null when refused.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type
class ServiceMutations:
    @strawberry.mutation(
        description="Send one message of a SERVICE campaign (an order confirmation, …) to a "
        "lead, with its variables; returns at once, the message goes within the channel's "
        "pacing. Taken while the campaign runs (sent now) or is paused (held until enabled "
        "again); refused with CAMPAIGN_NOT_ENABLED before it is first enabled and after it "
        "ends, NOT_A_SERVICE_CAMPAIGN for a MARKETING or email campaign, NOT_FOUND for "
        "another account's, OPTED_OUT when the contact withdrew consent for the channel, "
        "REQUIRED when a variable the content uses has no value, IDEMPOTENCY_KEY_REUSED (see "
        "idempotencyKey). A refusal changes nothing and sends nothing. Each message counts "
        "in the campaign's totals and rates like a marketing lead."
    )
    async def trigger_service_message(
        self, info: Info, input: TriggerServiceMessageInput
    ) -> TriggerServiceMessagePayload:
        async def work(session: Any, account_id: int) -> Triggered:
            user = None
            if input.conversation_user_id is not None:
                user = decode_as(input.conversation_user_id, "Contact")
                if user is None:
                    raise not_found("Contact", "conversation_user_id")
            # Null is "none"; any other non-object (0, [], "") is refused as not an object.
            given: Any = {} if input.custom_variables is None else input.custom_variables
            lead = LeadInput(input.phone_number, user, given)
            campaign_id = pk(input.campaign_id, "Campaign", "campaign_id")
            return await trigger_service_message(
                session, account_id, campaign_id, lead, input.idempotency_key
            )

        result = await write(info, work)
        if isinstance(result, list):
            return TriggerServiceMessagePayload(user_errors=result)
        campaign = result.campaign
        if result.created:
            ctx = info.context
            if campaign.status is CampaignStatus.RUNNING:  # paused: resuming enqueues it
                await enqueue_send(ctx.queue, campaign.id)
            with contextlib.suppress(RedisError, OSError):  # best effort: counters follow
                await announce(
                    ctx.db, ctx.queue, campaign.account_id, {campaign.id: [result.lead.id]}
                )
        return TriggerServiceMessagePayload(
            lead=Lead.from_model(result.lead),
            replayed=not result.created,
            campaign=Campaign.from_model(campaign),
        )
