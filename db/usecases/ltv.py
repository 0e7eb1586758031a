"""Revenue (LTV) attribution to a campaign and, optionally, to one of its contacts.

Currencies are never converted (Clarion holds no exchange rates). A campaign or contact
takes the currency of its first revenue; revenue in another currency is refused with
CURRENCY_MISMATCH and nothing changes. Each attribution is kept as an LtvEntry row;
the totals are counters updated in SQL (`SET x = x + n`).
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.errors import ErrorCode, Problem, not_found
from db.models import Campaign, Contact, LtvEntry
from db.queries import get_owned

VALUE_MAX_DIGITS = 19
# Campaign LTV is decimal(12, 2): at most 10 digits before the point.
CAMPAIGN_MAX_CENTS = 10**12 - 1


def _mismatch(kind: str, has: str, got: str, field: str) -> Problem:
    return Problem(
        ErrorCode.CURRENCY_MISMATCH,
        f"The {kind}'s revenue is in {has}; {got} cannot be added (no conversion is done).",
        (field,),
    )


async def add_ltv(
    session: AsyncSession,
    account_id: int,
    campaign_id: int,
    value: Decimal,
    currency: str,
    contact_email: str,
    now: datetime,
) -> tuple[Campaign, Contact | None]:
    currency = currency.strip().upper()
    contact_email = contact_email.strip().lower()
    problems = v.Problems()
    cents, problem = v.money_cents(value, VALUE_MAX_DIGITS, "value")
    problems.add(problem)
    problems.add(v.currency(currency, "currency"))
    problems.add(v.email(contact_email, "contact_email"))
    problems.raise_if_any()
    assert cents is not None

    campaign = await get_owned(
        session, Campaign, account_id, campaign_id, "campaign_id", for_update=True
    )
    contact = None
    if contact_email:
        contact = await session.scalar(
            select(Contact)
            .where(Contact.account_id == account_id, Contact.email == contact_email)
            .with_for_update()
        )
        if contact is None:
            raise not_found("Contact", "contact_email")

    if campaign.ltv_cents and campaign.ltv_currency != currency:
        problems.add(_mismatch("campaign", campaign.ltv_currency, currency, "currency"))
    if contact is not None and contact.ltv_cents and contact.ltv_currency != currency:
        problems.add(_mismatch("contact", contact.ltv_currency, currency, "currency"))
    if campaign.ltv_cents + cents > CAMPAIGN_MAX_CENTS:
        problems.add(
            Problem(
                ErrorCode.OUT_OF_RANGE,
                "The campaign's LTV would exceed 9,999,999,999.99.",
                ("value",),
            )
        )
    problems.raise_if_any()

    await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(ltv_cents=Campaign.ltv_cents + cents, ltv_currency=currency, updated_at=now)
    )
    if contact is not None:
        await session.execute(
            update(Contact)
            .where(Contact.id == contact.id)
            .values(
                ltv_cents=Contact.ltv_cents + cents,
                ltv_currency=currency,
                last_purchased_at=now,
                updated_at=now,
            )
        )
    session.add(
        LtvEntry(
            account_id=account_id,
            campaign_id=campaign.id,
            contact_id=contact.id if contact else None,
            value_cents=cents,
            currency=currency,
            created_at=now,
        )
    )
    await session.flush()
    await session.refresh(campaign)
    if contact is not None:
        await session.refresh(contact)
    return campaign, contact
