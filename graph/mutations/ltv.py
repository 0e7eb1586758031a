"""addLtv: attribute revenue to a campaign and, optionally, one of its contacts or leads."""

import logging
from decimal import Decimal

import strawberry
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from db.types import utcnow
from db.usecases import ltv as uc
from graph.context import Info
from graph.errors import UserError
from graph.limits_text import ADDRESS, PHONE_INTERNATIONAL
from graph.mutations.support import pk, write
from graph.types.campaign import Campaign
from graph.types.contact import Contact
from graph.types.lead import Lead
from jobs.lead_events import announce

log = logging.getLogger(__name__)


@strawberry.input(
    description="Revenue to add. Currencies are never converted. At most one of "
    "contactEmail, contactPhone and leadId names who bought (two or more: INVALID on each); "
    "none adds campaign-only revenue. A lead converts (Lead.convertedAt, "
    "Campaign.messagesConverted) on its first revenue after its message was sent."
)
class AddLtvInput:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    value: Decimal = strawberry.field(
        description="Greater than 0; at most 19 digits, 2 after the point."
    )
    currency: str = strawberry.field(
        description="ISO 4217 code. Must match the campaign's (and contact's) currency once "
        "they have revenue; the first revenue sets it."
    )
    contact_email: str = strawberry.field(
        default="",
        description=f"The contact who bought; empty for campaign-only revenue. In a "
        f"WhatsApp/SMS campaign, the contact's lead (if it has one) converts. {ADDRESS}",
    )
    contact_phone: str = strawberry.field(
        default="",
        description="WhatsApp/SMS: the number of the lead who bought (the number its message "
        "went to, or its contact's phone or WhatsApp number); the lead converts and its "
        "contact gets the revenue. Empty for none; NOT_FOUND when no lead of the campaign "
        f"has it. {PHONE_INTERNATIONAL}",
    )
    lead_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="WhatsApp/SMS: the global ID of the campaign's lead who bought; it "
        "converts and its contact gets the revenue. NOT_FOUND unless it is a lead of this "
        "campaign.",
    )


@strawberry.type(description="Result of addLtv.")
class AddLtvPayload:
    campaign: Campaign | None = strawberry.field(default=None, description="With its new ltv.")
    contact: Contact | None = strawberry.field(
        default=None, description="With its new ltv; null when no contact was named."
    )
    lead: Lead | None = strawberry.field(
        default=None,
        description="The lead the revenue was attributed to (with its convertedAt); null "
        "when none was named or the contact has no lead in the campaign.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type
class LtvMutations:
    @strawberry.mutation(
        description="Add revenue to a campaign (any status), its contact and lead."
    )
    async def add_ltv(self, info: Info, input: AddLtvInput) -> AddLtvPayload:
        async def work(session: AsyncSession, account_id: int) -> uc.LtvAdded:
            return await uc.add_ltv(
                session,
                account_id,
                pk(input.campaign_id, "Campaign", "campaign_id"),
                input.value,
                input.currency,
                input.contact_email,
                utcnow(),
                contact_phone=input.contact_phone,
                lead_id=(None if input.lead_id is None else pk(input.lead_id, "Lead", "lead_id")),
            )

        result = await write(info, work)
        if isinstance(result, list):
            return AddLtvPayload(user_errors=result)
        if result.converted and result.lead is not None:  # the lead and the rates changed
            try:
                await announce(
                    info.context.db,
                    info.context.queue,
                    result.campaign.account_id,
                    {result.campaign.id: [result.lead.id]},
                )
            except (RedisError, OSError) as exc:  # best effort, like progress: committed
                log.warning("could not announce lead %s: %s", result.lead.id, exc)
        return AddLtvPayload(
            campaign=Campaign.from_model(result.campaign),
            contact=Contact.from_model(result.contact) if result.contact else None,
            lead=Lead.from_model(result.lead) if result.lead else None,
        )
