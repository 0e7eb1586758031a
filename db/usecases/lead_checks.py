"""addLeads' rows checked before anything is written: each row alone (its number or
conversation user, its variables), then against each other and the campaign's leads (one
lead a contact, one contact a number)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import DomainError, ErrorCode, Problem
from db.kinds.twilio import TwilioKind, number_column
from db.models import Contact, Delivery
from db.phones import PhoneNumberError, normalise
from db.twilio_variables import CONTACT_FIELDS, check_custom_variables

# A refusal lists at most this many problems (the first ones, in row order).
MAX_PROBLEMS = 100
_CHUNK = 1_000
# A checked row: (normalised number or None, conversation user or None, address, variables).
Row = tuple[str | None, int | None, str, dict[str, str]]


@dataclass(frozen=True)
class LeadInput:
    phone_number: str | None = None
    conversation_user_id: int | None = None  # a contact of the account
    custom_variables: Mapping[str, Any] = field(default_factory=dict)


async def leads_by_address(
    session: AsyncSession, campaign_id: int, addresses: Sequence[str]
) -> dict[str, int]:
    """The contact of the campaign's lead at each of `addresses` that has one."""
    found: dict[str, int] = {}
    for start in range(0, len(addresses), _CHUNK):
        rows = await session.execute(
            select(Delivery.address, Delivery.contact_id).where(
                Delivery.campaign_id == campaign_id,
                Delivery.address.in_(addresses[start : start + _CHUNK]),
            )
        )
        for address, contact_id in rows:
            found[address] = contact_id
    return found


def refuse_repeated_contacts(
    rows: Sequence[Row],
    at_index: Sequence[int],
    by_number: Mapping[str, int],
    existing: Mapping[str, int],
) -> None:
    """One lead a contact, one contact a number: a number that is a conversation user's
    phone while the lead by that user goes to its WhatsApp number names the same contact
    by another address; a conversation user whose number another contact's lead of the
    campaign already goes to would be sent twice."""
    first: dict[int, int] = {}
    problems = []
    for (number, contact_id, address, _), i in zip(rows, at_index, strict=True):
        contact = contact_id if contact_id is not None else by_number[number or ""]
        if existing.get(address, contact) != contact:
            problems.append(
                Problem(
                    ErrorCode.DUPLICATE,
                    f"Another lead of this campaign goes to {address}.",
                    ("leads", str(i), "conversationUserId"),
                )
            )
        elif contact in first:
            problems.append(
                Problem(
                    ErrorCode.DUPLICATE,
                    f"The same contact as lead {first[contact]}.",
                    ("leads", str(i), "phoneNumber" if number else "conversationUserId"),
                )
            )
        first.setdefault(contact, i)
    if problems:
        raise DomainError(problems[:MAX_PROBLEMS])


def check_lead(
    lead: LeadInput,
    at: tuple[str, ...],
    users: Mapping[int, str],
    whatsapp: bool,
    needed: Sequence[str],
) -> Problem | Row:
    """The row checked, or its problem."""
    if (lead.phone_number is None) == (lead.conversation_user_id is None):
        return Problem(
            ErrorCode.INVALID,
            "Give exactly one of phoneNumber and conversationUserId.",
            (*at, "phoneNumber"),
        )
    variables, problem = check_custom_variables(
        lead.custom_variables, (*at, "customVariables"), whatsapp=whatsapp
    )
    if problem is not None:
        return problem
    if lead.phone_number is not None:
        try:
            number = normalise(lead.phone_number)
        except PhoneNumberError as exc:
            return Problem(ErrorCode.INVALID, str(exc), (*at, "phoneNumber"))
        address, contact_id = number, None
    else:
        assert lead.conversation_user_id is not None
        if lead.conversation_user_id not in users:
            return Problem(
                ErrorCode.NOT_FOUND,
                "No contact of this account with a number for the channel has this id.",
                (*at, "conversationUserId"),
            )
        contact_id, number = lead.conversation_user_id, None
        address = users[contact_id]
    # A conversation user's contact fields are checked when the campaign starts (a lead
    # without a value then is left out and counted); the number is always known.
    known = set(variables) | {"phone", "whatsapp"}
    if contact_id is not None:
        known |= set(CONTACT_FIELDS)
    missing = [name for name in needed if name not in known]
    if missing:
        return Problem(
            ErrorCode.REQUIRED,
            f"The content uses {', '.join(missing)}: give a value in customVariables.",
            (*at, "customVariables"),
        )
    return number, contact_id, address, variables


async def conversation_users(
    session: AsyncSession, account_id: int, kind: TwilioKind, leads: Sequence[LeadInput]
) -> dict[int, str]:
    """The account's contacts the leads name, with their number for the channel."""
    ids = {lead.conversation_user_id for lead in leads if lead.conversation_user_id is not None}
    if not ids:
        return {}
    number = number_column(kind.channel_type)
    found = await session.execute(
        select(Contact.id, number).where(
            Contact.account_id == account_id, Contact.id.in_(list(ids)), number != ""
        )
    )
    return {contact_id: address for contact_id, address in found if address}
