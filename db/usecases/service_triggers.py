"""triggerServiceMessage: one message of a service campaign, once per idempotency key.

A trigger is a new lead (a ledger row whose `trigger_key` is the caller's key): the run
sends it like any row, within the channel's pacing. The key makes a retried trigger (a
shop's webhook delivered twice) send once: the same key with the same lead and variables
answers with the lead it made; with anything else it is refused (IDEMPOTENCY_KEY_REUSED),
as Stripe refuses a key reused with other parameters. The database keeps it true under
concurrency: the campaign row is locked for the trigger (PostgreSQL; SQLite's writers take
turns), and a key is unique within its campaign (deliveries' partial unique index), so a
second insert of a key does nothing and the row found is the first one's.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.dialect import insert_for
from db.enums import CampaignStatus, CampaignType, DeliveryStatus
from db.errors import DomainError, ErrorCode, Problem
from db.kinds import kind_of
from db.kinds.twilio import TwilioKind
from db.models import Campaign, CampaignExecution, Contact, Delivery, MessagingContent
from db.queries import get_owned
from db.twilio_variables import CONTACT_FIELDS, content_variables
from db.usecases.contacts_by_phone import ensure_contacts_by_phone
from db.usecases.lead_checks import LeadInput, check_lead, conversation_users, leads_by_address

MAX_KEY_LENGTH = 255
# Taking triggers: running sends them now; paused holds them until it is enabled again.
_TAKES_TRIGGERS = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)
_LEAD = ("lead",)


@dataclass(frozen=True)
class Triggered:
    """The trigger's lead, and whether this call made it (False: a repeat of its key)."""

    lead: Delivery
    created: bool
    campaign: Campaign


def check_key(key: str) -> None:
    """1 to 255 printable characters (no control, separator-line or format characters)."""
    if not key:
        raise DomainError.one(ErrorCode.REQUIRED, "idempotencyKey is required.", "idempotency_key")
    if len(key) > MAX_KEY_LENGTH:
        raise DomainError.one(
            ErrorCode.TOO_LONG, f"At most {MAX_KEY_LENGTH} characters.", "idempotency_key"
        )
    if not key.isprintable():
        raise DomainError.one(
            ErrorCode.INVALID,
            "Printable characters only (no control characters).",
            "idempotency_key",
        )


async def trigger_service_message(
    session: AsyncSession, account_id: int, campaign_id: int, lead: LeadInput, key: str
) -> Triggered:
    """The lead of `key` in the service campaign: made now (pending, sent by the campaign's
    run), or the one an earlier call with the same key and lead made."""
    check_key(key)
    campaign = await get_owned(
        session, Campaign, account_id, campaign_id, "campaign_id", for_update=True
    )
    kind = kind_of(campaign)
    if campaign.campaign_type is not CampaignType.SERVICE or not isinstance(kind, TwilioKind):
        raise DomainError.one(
            ErrorCode.NOT_A_SERVICE_CAMPAIGN,
            "Only a SERVICE campaign is triggered; a MARKETING one sends to its leads.",
            "campaign_id",
        )
    content = await session.get_one(MessagingContent, campaign.id)
    needed = content_variables(content)
    users = await conversation_users(session, account_id, kind, [lead])
    whatsapp = kind.channel_type.value == "whatsapp"
    found = check_lead(lead, _LEAD, users, whatsapp, needed)
    if isinstance(found, Problem):
        raise DomainError([_unprefixed(found)])
    number, user_id, address, variables = found

    earlier = await _lead_of_key(session, campaign.id, key)
    if earlier is not None:
        return Triggered(_same_or_refuse(earlier, user_id, address, variables), False, campaign)
    if campaign.status not in _TAKES_TRIGGERS:
        raise DomainError.one(
            ErrorCode.CAMPAIGN_NOT_ENABLED,
            f"The campaign is {campaign.status.value}: it takes triggers once enabled "
            "(setCampaignEnabled), until it ends.",
            "campaign_id",
        )
    if user_id is not None:
        await _check_contact_fields(session, user_id, needed, variables)
        contact_id = user_id
    else:
        assert number is not None
        contact_id = await _contact_of_number(session, account_id, campaign.id, number)
    await _check_consent(session, kind, contact_id, user_id is not None)
    await session.execute(
        insert_for(session, Delivery)
        .values(
            account_id=account_id,
            campaign_id=campaign.id,
            contact_id=contact_id,
            address=address,
            variables=variables or None,
            status=DeliveryStatus.PENDING,
            active=True,
            by_contact=user_id is not None,
            trigger_key=key,
        )
        # Either unique index: the key was taken meanwhile (it is compared below), or this
        # contact has a row of this key (the same thing).
        .on_conflict_do_nothing()
    )
    made = await _lead_of_key(session, campaign.id, key)
    assert made is not None
    _same_or_refuse(made, user_id, address, variables)
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign.id)
        .values(total_contacts=CampaignExecution.total_contacts + 1)
    )
    keys = set(variables) - set(content.variable_keys)
    if keys:
        content.variable_keys = sorted(set(content.variable_keys) | keys)
    return Triggered(made, True, campaign)


def _unprefixed(problem: Problem) -> Problem:
    """check_lead's problem on the trigger's own input (phoneNumber, not lead.phoneNumber)."""
    return Problem(problem.code, problem.message, problem.field[len(_LEAD) :])


async def _lead_of_key(session: AsyncSession, campaign_id: int, key: str) -> Delivery | None:
    row: Delivery | None = await session.scalar(
        select(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.trigger_key == key)
        .execution_options(populate_existing=True)
    )
    return row


def _same_or_refuse(
    lead: Delivery, user_id: int | None, address: str, variables: dict[str, str]
) -> Delivery:
    """The key's lead when this call asks for the same one (lead and variables)."""
    same_lead = (
        lead.by_contact and lead.contact_id == user_id
        if user_id is not None
        else not lead.by_contact and lead.address == address
    )
    if same_lead and (lead.variables or {}) == variables:
        return lead
    raise DomainError.one(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "This idempotencyKey was used with another lead or other variables; a key names "
        "one message.",
        "idempotency_key",
    )


async def _contact_of_number(
    session: AsyncSession, account_id: int, campaign_id: int, number: str
) -> int:
    """The contact the number's messages of this campaign go to (a lead's), else the
    account's contact with that phone, made (phone-only) when there is none."""
    existing = await leads_by_address(session, campaign_id, [number])
    if number in existing:
        return existing[number]
    return (await ensure_contacts_by_phone(session, account_id, [number]))[number]


async def _check_contact_fields(
    session: AsyncSession, contact_id: int, needed: tuple[str, ...], own: dict[str, str]
) -> None:
    """A conversation user's message needs a value for every variable the content uses:
    its own, or its contact's field (checked now; a marketing lead's is checked at start)."""
    contact = await session.get_one(Contact, contact_id)
    values: dict[str, Any] = {name: getattr(contact, name) or "" for name in CONTACT_FIELDS}
    values |= own
    lacking = [name for name in needed if not str(values.get(name, "")).strip()]
    if lacking:
        raise DomainError.one(
            ErrorCode.REQUIRED,
            f"The content uses {', '.join(lacking)}: the contact has no value; give one in "
            "customVariables.",
            "custom_variables",
        )


async def _check_consent(
    session: AsyncSession, kind: TwilioKind, contact_id: int, by_contact: bool
) -> None:
    consent = await session.scalar(
        select(getattr(Contact, kind.consent_column)).where(Contact.id == contact_id)
    )
    if not consent:
        raise DomainError.one(
            ErrorCode.OPTED_OUT,
            f"The contact withdrew consent for {kind.channel_type.value}: nothing is sent.",
            "conversation_user_id" if by_contact else "phone_number",
        )
