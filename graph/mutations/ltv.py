"""addLtv: attribute revenue to a campaign and, optionally, one of its contacts."""

from decimal import Decimal

import strawberry

from db.types import utcnow
from db.usecases import ltv as uc
from graph.context import Info
from graph.errors import UserError
from graph.limits_text import ADDRESS
from graph.mutations.support import pk, write
from graph.types.campaign import Campaign
from graph.types.contact import Contact


@strawberry.input(description="Revenue to add. Currencies are never converted.")
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
        description=f"The contact who bought; empty for campaign-only revenue. {ADDRESS}",
    )


@strawberry.type(description="Result of addLtv.")
class AddLtvPayload:
    campaign: Campaign | None = strawberry.field(default=None, description="With its new ltv.")
    contact: Contact | None = strawberry.field(
        default=None, description="With its new ltv; null when no contact was named."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type
class LtvMutations:
    @strawberry.mutation(description="Add revenue to a campaign (any status) and its contact.")
    async def add_ltv(self, info: Info, input: AddLtvInput) -> AddLtvPayload:
        result = await write(
            info,
            lambda s, a: uc.add_ltv(
                s,
                a,
                pk(input.campaign_id, "Campaign", "campaign_id"),
                input.value,
                input.currency,
                input.contact_email,
                utcnow(),
            ),
        )
        if isinstance(result, list):
            return AddLtvPayload(user_errors=result)
        campaign, contact = result
        return AddLtvPayload(
            campaign=Campaign.from_model(campaign),
            contact=Contact.from_model(contact) if contact else None,
        )
