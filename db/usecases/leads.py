"""Leads of WhatsApp/SMS campaigns: `add_leads` (upsert by number within the campaign,
all or nothing) and `remove_leads` (deactivate). A lead is the campaign's ledger row for
one contact (db/models/delivery.py), so who was sent what stays one truth: a lead added
again after it was sent is never sent twice, and a lead added to a running campaign is
sent by the run in progress."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.dialect import insert_for
from db.enums import CampaignStatus, DeliveryStatus
from db.errors import DomainError, ErrorCode, Problem
from db.kinds import kind_of
from db.kinds.twilio import TwilioKind
from db.models import Campaign, CampaignExecution, Delivery, MessagingContent
from db.queries import get_owned
from db.twilio_variables import content_variables
from db.usecases.contacts_by_phone import ensure_contacts_by_phone
from db.usecases.lead_checks import (
    MAX_PROBLEMS,
    LeadInput,
    Row,
    check_lead,
    conversation_users,
    leads_by_address,
    refuse_repeated_contacts,
)

__all__ = ["LeadInput", "add_leads", "lead_rows", "remove_leads"]

MAX_LEADS_PER_CALL = 10_000
_CHUNK = 1_000
_FINAL = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.FAILED)
_STARTED = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)


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
    users = await conversation_users(session, account_id, kind, leads)
    problems: list[Problem] = []
    rows: list[Row] = []
    at_index: list[int] = []  # each row's index in `leads`
    seen: dict[str, int] = {}
    for i, lead in enumerate(leads):
        at = ("leads", str(i))
        found = check_lead(lead, at, users, kind.channel_type.value == "whatsapp", needed)
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
    existing = await leads_by_address(session, campaign.id, list(seen))
    numbers = [number for number, _, _, _ in rows if number]
    by_number = {n: existing[n] for n in numbers if n in existing}
    by_number |= await ensure_contacts_by_phone(
        session, account_id, [n for n in numbers if n not in existing]
    )
    refuse_repeated_contacts(rows, at_index, by_number, existing)
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
                index_elements=["campaign_id", "contact_id", "trigger_key"],
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
            Delivery.campaign_id == campaign.id,
            Delivery.contact_id.in_(contact_ids),
            Delivery.trigger_key == "",  # not a service trigger's row of the contact
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
