"""Leads of WhatsApp/SMS campaigns: `add_leads` (upsert by number within the campaign,
all or nothing) and `remove_leads` (deactivate). A lead is the campaign's ledger row for
one contact (db/models/delivery.py), so who was sent what stays one truth: a lead added
again after it was sent is never sent twice, and a lead added to a running campaign is
sent by the run in progress."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.dialect import insert_for
from db.enums import CampaignStatus, DeliveryStatus
from db.errors import DomainError, ErrorCode, Problem
from db.kinds import kind_of
from db.kinds.twilio import TwilioKind
from db.models import Campaign, CampaignExecution, Contact, Delivery, MessagingContent
from db.phones import PhoneNumberError, normalise
from db.queries import get_owned
from db.twilio_variables import CONTACT_FIELDS, check_custom_variables, content_variables
from db.usecases.contacts_by_phone import ensure_contacts_by_phone

MAX_LEADS_PER_CALL = 10_000
# A refusal lists at most this many problems (the first ones, in row order).
MAX_PROBLEMS = 100
_CHUNK = 1_000
_FINAL = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.FAILED)
_STARTED = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)


@dataclass(frozen=True)
class LeadInput:
    phone_number: str | None = None
    conversation_user_id: int | None = None  # a contact of the account
    custom_variables: Mapping[str, Any] = field(default_factory=dict)


async def messaging_campaign(
    session: AsyncSession, account_id: int, campaign_id: int, field_name: str = "campaign_id"
) -> tuple[Campaign, TwilioKind]:
    """The account's WhatsApp/SMS campaign, locked; INVALID for an email campaign."""
    campaign = await get_owned(
        session, Campaign, account_id, campaign_id, field_name, for_update=True
    )
    kind = kind_of(campaign)
    if not isinstance(kind, TwilioKind):
        raise DomainError.one(
            ErrorCode.INVALID, "Leads belong to WhatsApp and SMS campaigns.", field_name
        )
    return campaign, kind


async def add_leads(
    session: AsyncSession, account_id: int, campaign_id: int, leads: Sequence[LeadInput]
) -> list[int]:
    """Adds or updates the leads (by number within the campaign); returns their row ids
    in input order. Every row is checked before anything is written: one bad row refuses
    the call, with a problem per bad row (field `leads.<index>.<input field>`)."""
    campaign, kind = await messaging_campaign(session, account_id, campaign_id)
    if campaign.status in _FINAL:
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            f"Leads cannot be added to a {campaign.status.value} campaign.",
            "campaign_id",
        )
    if len(leads) > MAX_LEADS_PER_CALL:
        raise DomainError.one(
            ErrorCode.TOO_MANY, f"At most {MAX_LEADS_PER_CALL:,} leads a call.", "leads"
        )
    content = await session.get_one(MessagingContent, campaign.id)
    needed = content_variables(content)
    users = await _conversation_users(session, account_id, kind, leads)
    problems: list[Problem] = []
    rows: list[tuple[str | None, int | None, str, dict[str, str]]] = []  # number, contact
    at_index: list[int] = []  # each row's index in `leads`
    seen: dict[str, int] = {}
    for i, lead in enumerate(leads):
        at = ("leads", str(i))
        found = _check_lead(lead, at, users, kind.channel_type.value == "whatsapp", needed)
        if isinstance(found, Problem):
            problems.append(found)
            continue
        address = found[2]
        if address in seen:
            problems.append(
                Problem(
                    ErrorCode.DUPLICATE,
                    f"The same number as lead {seen[address]} ({address}).",
                    (*at, "phoneNumber" if found[0] else "conversationUserId"),
                )
            )
            continue
        seen[address] = i
        rows.append(found)
        at_index.append(i)
    if problems:
        raise DomainError(problems[:MAX_PROBLEMS])
    # A number one of the campaign's leads goes to is that lead (upsert by number), even
    # when its contact is a conversation user whose WhatsApp number it is.
    existing = await _leads_by_address(session, campaign.id, list(seen))
    numbers = [number for number, _, _, _ in rows if number]
    by_number = {n: existing[n] for n in numbers if n in existing}
    by_number |= await ensure_contacts_by_phone(
        session, account_id, [n for n in numbers if n not in existing]
    )
    _refuse_repeated_contacts(rows, at_index, by_number, existing)
    values: list[dict[str, Any]] = [
        {
            "account_id": account_id,
            "campaign_id": campaign.id,
            "contact_id": contact_id if contact_id is not None else by_number[number or ""],
            "address": address,
            "variables": variables or None,
            "status": DeliveryStatus.PENDING,
            "active": True,
            "by_contact": contact_id is not None,
        }
        for number, contact_id, address, variables in rows
    ]
    for start in range(0, len(values), _CHUNK):
        statement = insert_for(session, Delivery).values(values[start : start + _CHUNK])
        excluded = statement.excluded
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["campaign_id", "contact_id"],
                set_={
                    "variables": excluded.variables,
                    "active": True,
                    # A lead removed before it was sent is pending again; a sent, failed
                    # or opted-out one keeps its status (it is never sent twice).
                    "status": case(
                        (
                            (Delivery.status == DeliveryStatus.CANCELLED)
                            & Delivery.sent_at.is_(None),
                            DeliveryStatus.PENDING.value,
                        ),
                        else_=Delivery.status,
                    ),
                    # Not sent yet: it goes where the number now says.
                    "address": case(
                        (Delivery.sent_at.is_(None), excluded.address), else_=Delivery.address
                    ),
                },
            )
        )
    contact_ids: list[int] = [value["contact_id"] for value in values]
    written = await session.execute(
        select(Delivery.contact_id, Delivery.id).where(
            Delivery.campaign_id == campaign.id, Delivery.contact_id.in_(contact_ids)
        )
    )
    by_contact: dict[int, int] = dict(written.all())
    ids = [by_contact[c] for c in contact_ids]
    if campaign.status in _STARTED:  # what its start left out is left out now
        skipped = await kind.leave_out(session, campaign, ids)
        await session.execute(
            update(CampaignExecution)
            .where(CampaignExecution.campaign_id == campaign.id)
            .values(total_skipped=CampaignExecution.total_skipped + skipped)
        )
    await _recount(session, campaign.id)
    keys = {key for _, _, _, variables in rows for key in variables}
    if keys - set(content.variable_keys):
        content.variable_keys = sorted(set(content.variable_keys) | keys)
    return ids


async def remove_leads(
    session: AsyncSession, account_id: int, campaign_id: int, lead_ids: Sequence[int]
) -> int:
    """Deactivates the campaign's leads; a pending one is cancelled (not sent). A lead in
    flight or already sent keeps its status. Returns how many were active."""
    campaign, _ = await messaging_campaign(session, account_id, campaign_id)
    if len(lead_ids) > MAX_LEADS_PER_CALL:
        raise DomainError.one(
            ErrorCode.TOO_MANY, f"At most {MAX_LEADS_PER_CALL:,} leads a call.", "lead_ids"
        )
    mine = (Delivery.campaign_id == campaign.id, Delivery.id.in_(list(lead_ids)))
    known = set((await session.scalars(select(Delivery.id).where(*mine))).all())
    unknown = [i for i, lead in enumerate(lead_ids) if lead not in known]
    if unknown:
        raise DomainError(
            [
                Problem(ErrorCode.NOT_FOUND, "No such lead in this campaign.", ("lead_ids", str(i)))
                for i in unknown[:MAX_PROBLEMS]
            ]
        )
    changed = await session.execute(
        update(Delivery)
        .where(*mine, Delivery.active.is_(True))
        .values(
            active=False,
            status=case(
                (Delivery.status == DeliveryStatus.PENDING, DeliveryStatus.CANCELLED.value),
                else_=Delivery.status,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    await _recount(session, campaign.id)
    return int(getattr(changed, "rowcount", 0) or 0)


async def _leads_by_address(
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


def _refuse_repeated_contacts(
    rows: Sequence[tuple[str | None, int | None, str, dict[str, str]]],
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


def _check_lead(
    lead: LeadInput,
    at: tuple[str, ...],
    users: Mapping[int, str],
    whatsapp: bool,
    needed: Sequence[str],
) -> Problem | tuple[str | None, int | None, str, dict[str, str]]:
    """(normalised number or None, conversation user or None, address, variables)."""
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


async def _conversation_users(
    session: AsyncSession, account_id: int, kind: TwilioKind, leads: Sequence[LeadInput]
) -> dict[int, str]:
    """The account's contacts the leads name, with their number for the channel."""
    from db.kinds.twilio import number_column

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


async def _recount(session: AsyncSession, campaign_id: int) -> None:
    """A started campaign's total follows its leads (added or removed while it runs): the
    active ones still to send, and every one already tried (removed or not: it was sent,
    or failed); not those left out at start (its total_skipped) nor cancelled ones."""
    waiting = (Delivery.status == DeliveryStatus.PENDING) & Delivery.active.is_(True)
    tried = (Delivery.attempts > 0) | Delivery.status.in_(
        [DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED]
    )
    total = await session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status != DeliveryStatus.CANCELLED,
            waiting | tried,
        )
    )
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign_id)
        .values(total_contacts=total or 0)
    )


async def lead_rows(session: AsyncSession, ids: Sequence[int]) -> list[Delivery]:
    """The rows of `ids`, in that order."""
    found = {
        row.id: row
        for start in range(0, len(ids), MAX_LEADS_PER_CALL)
        for row in await session.scalars(
            select(Delivery).where(Delivery.id.in_(list(ids[start : start + MAX_LEADS_PER_CALL])))
        )
    }
    return [found[i] for i in ids]
