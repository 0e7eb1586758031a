"""WhatsApp/SMS campaigns: the one-step create, leads, and the enabled switch."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from db import models
from db.enums import CampaignType
from db.errors import DomainError, ErrorCode, not_found
from db.types import utcnow
from db.usecases import campaign_lifecycle, leads
from db.usecases.messaging_campaigns import create_messaging_campaign
from graph.context import Info
from graph.enums import ContentType
from graph.errors import UserError, user_errors
from graph.ids import decode_as, decode_ref
from graph.limits_text import CONVERSION_PAYLOADS, DESCRIPTION, NAME, REF
from graph.mutations.campaigns import CampaignPayload
from graph.mutations.lifecycle import after_commit
from graph.mutations.support import pk, write
from graph.types.campaign import Campaign
from graph.types.lead import Lead
from graph.user_template import fetch_user_template
from jobs.progress import publish

LEADS = (
    "At most 10,000 a call. All or nothing: a bad row refuses the call, with a userError "
    "per bad row whose field is leads.<index>.<input field>."
)


@strawberry.input(
    description="A lead: exactly one of phoneNumber and conversationUserId, and its own variables."
)
class LeadInput:
    phone_number: str | None = strawberry.field(
        default=None,
        description="A number in E.164 (+ and country code; spaces, dashes, dots and "
        "parentheses are allowed and dropped); at most 32 characters. Its contact is found "
        "by number, or made (phone-only).",
    )
    conversation_user_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A contact of the account (the spec's conversation user) with a number "
        "for the channel (WhatsApp: its whatsapp number, else its phone).",
    )
    custom_variables: JSON | None = strawberry.field(
        default=None,
        description="An object of at most 100 names (a letter or _, then letters, digits or "
        "_; or a number from 1, like Twilio's {{1}}; at most 16) to non-empty strings of "
        "at most 1,600 characters without control characters (WhatsApp: no newline, tab "
        "or more than 4 spaces in a row). Every variable the content uses needs a value "
        "here, unless the lead is a conversation user with that contact field.",
    )


def _leads(rows: Sequence[LeadInput] | None) -> list[leads.LeadInput]:
    out = []
    for i, row in enumerate(rows or []):
        user = None
        if row.conversation_user_id is not None:
            user = decode_as(row.conversation_user_id, "Contact")
            if user is None:
                raise not_found("Contact", "leads", str(i), "conversationUserId")
        out.append(
            leads.LeadInput(row.phone_number, user, row.custom_variables or {})  # type: ignore[arg-type]
        )
    return out


@strawberry.input(
    description="One step: a WhatsApp/SMS campaign in draft, its content, and optionally its "
    "leads and audience (all or nothing)."
)
class CreateMessagingCampaignInput:
    name: str = strawberry.field(description=f"Required. {NAME}")
    channel: str = strawberry.field(description="The Twilio channel's code; at most 50.")
    description: str = strawberry.field(default="", description=DESCRIPTION)
    campaign_type: CampaignType = strawberry.field(
        default=CampaignType.MARKETING, description="MARKETING (default) or SERVICE."
    )
    content_type: ContentType | None = strawberry.field(
        default=None, description="Required with contentContext."
    )
    content_context: JSON | None = strawberry.field(
        default=None,
        description='The content in Twilio\'s shape for contentType (e.g. {"body": "Hi '
        '{{first_name}}"} for TEXT; actions for QUICK_REPLY, CALL_TO_ACTION and CARD; '
        "media URLs). Checked against Twilio's rules for the type; each problem is a "
        "userError whose field is its path in the JSON (contentContext.actions.2.title). At "
        "most 65,536 characters of JSON, 500 values, nesting 4.",
    )
    content_sid: str | None = strawberry.field(
        default=None,
        description="Instead of contentContext: a template of the channel's Twilio account "
        "(HX + 32 hex), read from Twilio (with its approval) and checked the same way; "
        "NOT_FOUND when Twilio has none, SEND_FAILED when Twilio cannot be read.",
    )
    leads: list[LeadInput] | None = strawberry.field(default=None, description=LEADS)
    audience: str | None = strawberry.field(
        default=None,
        description=f"An audience whose members with a number and consent for the channel "
        f"join the leads at start. {REF}",
    )
    scheduled_at: datetime | None = strawberry.field(default=None, description="When to send.")
    execution_duration_minutes: int | None = strawberry.field(
        default=None,
        description="Spread sends over 1..1440 minutes. Not for a SERVICE campaign, which "
        "sends each trigger at once (INVALID).",
    )
    conversion_payloads: list[str] | None = strawberry.field(
        default=None, description=f"WhatsApp: {CONVERSION_PAYLOADS} Null or [] for none."
    )


@strawberry.type(description="Result of createMessagingCampaign.")
class CreateMessagingCampaignPayload(CampaignPayload):
    pass


@strawberry.input(description="Leads to add to (or update in) a WhatsApp/SMS campaign.")
class AddLeadsInput:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    leads: list[LeadInput] = strawberry.field(
        description=f"{LEADS} A number already among the campaign's leads updates that lead "
        "(its variables; a removed one is active again); a lead already sent is never sent "
        "again."
    )


@strawberry.type(description="Result of addLeads.")
class AddLeadsPayload:
    leads: list[Lead] = strawberry.field(
        default_factory=list, description="The leads, in input order; empty when refused."
    )
    campaign: Campaign | None = strawberry.field(default=None, description="Null when refused.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.input(description="Leads to remove (deactivate) from a WhatsApp/SMS campaign.")
class RemoveLeadsInput:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    lead_ids: list[strawberry.ID] = strawberry.field(
        description="Its leads' global IDs; at most 10,000. A pending lead is not sent; one "
        "already sent keeps its status."
    )


@strawberry.type(description="Result of removeLeads.")
class RemoveLeadsPayload:
    removed_count: int = strawberry.field(
        default=0, description="Leads that were active and are not any more."
    )
    campaign: Campaign | None = strawberry.field(default=None, description="Null when refused.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.input(description="The spec's play/pause switch.")
class SetCampaignEnabledInput:
    id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    enabled: bool = strawberry.field(
        description="true: start a draft or scheduled campaign (now, or at scheduledAt) or "
        "resume a paused one; false: pause a running one. Already so: nothing changes."
    )


@strawberry.type(description="Result of setCampaignEnabled.")
class SetCampaignEnabledPayload(CampaignPayload):
    pass


def _lead_ids(campaign_id: int, ids: Sequence[strawberry.ID]) -> list[int]:
    out = []
    for i, global_id in enumerate(ids):
        ident = decode_as(global_id, "Lead")
        if ident is None:
            raise DomainError.one(ErrorCode.NOT_FOUND, "No such lead.", "lead_ids", str(i))
        out.append(ident)
    return out


@strawberry.type
class MessagingMutations:
    @strawberry.mutation(
        description="Create a WhatsApp/SMS campaign in draft: its content, and optionally "
        "its leads and audience, in one step (all or nothing)."
    )
    async def create_messaging_campaign(
        self, info: Info, input: CreateMessagingCampaignInput
    ) -> CreateMessagingCampaignPayload:
        fields: dict[str, Any] = {
            "name": input.name,
            "channel": input.channel,
            "description": input.description,
            "campaign_type": input.campaign_type,
            "content_type": input.content_type,
            "content_context": input.content_context,
            "content_sid": input.content_sid,
            "scheduled_at": input.scheduled_at,
            "execution_duration_minutes": input.execution_duration_minutes,
            "conversion_payloads": input.conversion_payloads,
        }
        if input.audience is not None:
            fields["audience"] = decode_ref(input.audience, "Audience")

        fetched = None
        if input.content_sid and input.content_context is None:  # both: refused unread
            try:
                fetched = await fetch_user_template(
                    info.context.db, info.context.account_id, input.channel, input.content_sid
                )
            except DomainError as exc:
                return CreateMessagingCampaignPayload(user_errors=user_errors(exc))

        async def work(session: Any, account_id: int) -> models.Campaign:
            fields["leads"] = _leads(input.leads)
            return await create_messaging_campaign(session, account_id, fields, utcnow(), fetched)

        result = await write(info, work)
        if isinstance(result, list):
            return CreateMessagingCampaignPayload(user_errors=result)
        await publish(info.context.db, info.context.queue, result.id)  # list views
        return CreateMessagingCampaignPayload(campaign=Campaign.from_model(result))

    @strawberry.mutation(description="Add or update leads of a WhatsApp/SMS campaign.")
    async def add_leads(self, info: Info, input: AddLeadsInput) -> AddLeadsPayload:
        async def work(session: Any, account_id: int) -> tuple[models.Campaign, list[Any]]:
            campaign_id = pk(input.campaign_id, "Campaign", "campaign_id")
            ids = await leads.add_leads(session, account_id, campaign_id, _leads(input.leads))
            rows = await leads.lead_rows(session, ids)
            return await session.get_one(models.Campaign, campaign_id), rows

        result = await write(info, work)
        if isinstance(result, list):
            return AddLeadsPayload(user_errors=result)
        campaign, rows = result
        await publish(info.context.db, info.context.queue, campaign.id)
        return AddLeadsPayload(
            leads=[Lead.from_model(row) for row in rows], campaign=Campaign.from_model(campaign)
        )

    @strawberry.mutation(description="Remove leads of a WhatsApp/SMS campaign (deactivate).")
    async def remove_leads(self, info: Info, input: RemoveLeadsInput) -> RemoveLeadsPayload:
        async def work(session: Any, account_id: int) -> tuple[models.Campaign, int]:
            campaign_id = pk(input.campaign_id, "Campaign", "campaign_id")
            ids = _lead_ids(campaign_id, input.lead_ids)
            removed = await leads.remove_leads(session, account_id, campaign_id, ids)
            return await session.get_one(models.Campaign, campaign_id), removed

        result = await write(info, work)
        if isinstance(result, list):
            return RemoveLeadsPayload(user_errors=result)
        campaign, removed = result
        await publish(info.context.db, info.context.queue, campaign.id)
        return RemoveLeadsPayload(removed_count=removed, campaign=Campaign.from_model(campaign))

    @strawberry.mutation(
        description="The spec's enabled switch: on starts or resumes, off pauses (see the "
        "input); the same rules as startCampaign, resumeCampaign and pauseCampaign."
    )
    async def set_campaign_enabled(
        self, info: Info, input: SetCampaignEnabledInput
    ) -> SetCampaignEnabledPayload:
        result = await write(
            info,
            lambda s, a: campaign_lifecycle.set_enabled(
                s, a, pk(input.id, "Campaign"), input.enabled, utcnow()
            ),
        )
        return await after_commit(info, result, SetCampaignEnabledPayload)
