"""Revenue (LTV) attribution to a campaign and, optionally, to one of its contacts or
WhatsApp/SMS leads.

Currencies are never converted (Clarion holds no exchange rates). A campaign or contact
takes the currency of its first revenue; revenue in another currency is refused with
CURRENCY_MISMATCH and nothing changes. Each attribution is kept as an LtvEntry row;
the totals are counters updated in SQL (`SET x = x + n`).

At most one of contact_email, contact_phone and lead_id names who bought. A lead named
by id or by number (its contact's phone or WhatsApp number, or the number it was sent
to), or the lead of the contact named by email in a WhatsApp/SMS campaign, converts
(db/usecases/conversions.py) in the same transaction as the revenue.
"""

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import phones
from db import validation as v
from db.enums import ChannelType
from db.errors import DomainError, ErrorCode, Problem, not_found
from db.models import Campaign, Contact, Delivery, LtvEntry
from db.queries import get_owned
from db.usecases.conversions import mark_converted

VALUE_MAX_DIGITS = 19
# Campaign LTV is decimal(12, 2): at most 10 digits before the point.
CAMPAIGN_MAX_CENTS = 10**12 - 1


def _mismatch(kind: str, has: str, got: str, field: str) -> Problem:
    return Problem(
        ErrorCode.CURRENCY_MISMATCH,
        f"The {kind}'s revenue is in {has}; {got} cannot be added (no conversion is done).",
        (field,),
    )


class LtvAdded(NamedTuple):
    campaign: Campaign
    contact: Contact | None
    # The lead the revenue was attributed to, and whether this call converted it.
    lead: Delivery | None
    converted: bool


def _identifiers(
    contact_email: str, contact_phone: str, lead_id: int | None, problems: v.Problems
) -> None:
    given = [
        name
        for name, value in (
            ("contact_email", contact_email),
            ("contact_phone", contact_phone),
            ("lead_id", lead_id),
        )
        if value
    ]
    if len(given) > 1:
        for name in given:
            problems.add(
                Problem(
                    ErrorCode.INVALID,
                    "Give at most one of contactEmail, contactPhone and leadId.",
                    (name,),
                )
            )


def _phone(raw: str) -> tuple[str, Problem | None]:
    if not raw:
        return "", None
    try:
        return phones.normalise(raw), None
    except phones.PhoneNumberError as exc:
        code = (
            ErrorCode.TOO_LONG
            if exc.problem is phones.PhoneProblem.INPUT_TOO_LONG
            else ErrorCode.INVALID
        )
        return "", Problem(code, f"contact_phone {exc}", ("contact_phone",))


async def _lead_of(
    session: AsyncSession, campaign: Campaign, *conditions: ColumnElement[bool]
) -> Delivery | None:
    """The campaign's lead matching `conditions`: of several (a service campaign sends a
    contact once per trigger), the one sent last, else the newest."""
    stmt = (
        select(Delivery)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign.id, *conditions)
        .order_by(Delivery.sent_at.is_(None), Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(1)
    )
    lead: Delivery | None = await session.scalar(stmt)
    return lead


async def add_ltv(
    session: AsyncSession,
    account_id: int,
    campaign_id: int,
    value: Decimal,
    currency: str,
    contact_email: str,
    now: datetime,
    *,
    contact_phone: str = "",
    lead_id: int | None = None,
) -> LtvAdded:
    currency = currency.strip().upper()
    contact_email = contact_email.strip().lower()
    contact_phone = contact_phone.strip()
    problems = v.Problems()
    cents, problem = v.money_cents(value, VALUE_MAX_DIGITS, "value")
    problems.add(problem)
    problems.add(v.currency(currency, "currency"))
    problems.add(v.email(contact_email, "contact_email"))
    number, problem = _phone(contact_phone)
    problems.add(problem)
    _identifiers(contact_email, contact_phone, lead_id, problems)
    problems.raise_if_any()
    assert cents is not None

    campaign = await get_owned(
        session, Campaign, account_id, campaign_id, "campaign_id", for_update=True
    )
    contact = None
    lead = None
    if lead_id is not None:
        lead = await _lead_of(session, campaign, Delivery.id == lead_id)
        if lead is None or campaign.channel_type is ChannelType.EMAIL:
            raise not_found("Lead", "lead_id")
    elif number:
        lead = await _lead_of(
            session,
            campaign,
            or_(Delivery.address == number, Contact.phone == number, Contact.whatsapp == number),
        )
        if lead is None or campaign.channel_type is ChannelType.EMAIL:
            raise DomainError.one(
                ErrorCode.NOT_FOUND, "No lead of the campaign has this number.", "contact_phone"
            )
    if lead is not None:
        contact = await session.scalar(
            select(Contact).where(Contact.id == lead.contact_id).with_for_update()
        )
    elif contact_email:
        contact = await session.scalar(
            select(Contact)
            .where(Contact.account_id == account_id, Contact.email == contact_email)
            .with_for_update()
        )
        if contact is None:
            raise not_found("Contact", "contact_email")
        if campaign.channel_type is not ChannelType.EMAIL:
            lead = await _lead_of(session, campaign, Delivery.contact_id == contact.id)

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
    converted = lead is not None and await mark_converted(session, campaign.id, lead.id, now)
    await session.flush()
    await session.refresh(campaign)
    if contact is not None:
        await session.refresh(contact)
    if lead is not None:
        await session.refresh(lead)
    return LtvAdded(campaign, contact, lead, converted)
