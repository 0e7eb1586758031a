"""What the provider reports about a sent message (a status callback, or the catch-up job's
fetch of the Message), applied to its lead.

A lead only moves forward: delivered and read are set once each, never cleared; a failure
(failed, undelivered, canceled) turns a lead that is still only sent into NOT_RECEIVED,
and nothing a callback says moves it from there. A batch costs a handful of statements
whatever its size: one lookup of the leads and their state, on which each lead's events are
replayed in order to find what they ask, then one `UPDATE ... WHERE id IN (...)` per kind
of change whose conditions are the rule itself, and RETURNING says what changed, so two
batches naming one message applied at once (two processes, a retry of Twilio's) count once. The
execution's counters change in the same transaction: total_delivered and total_read when
the time is first set; a failure moves the row SENT -> FAILED, so total_sent - 1 and
total_failed + 1 (the recount at completion, from the ledger's statuses, agrees).

The lead is looked for only in the campaigns of the channel whose webhook was called, of
that channel's account: a sid of another channel's message changes nothing. A callback
for a sid no lead holds yet is kept (early_statuses) and applied when the sender records
the sid (`apply_early`).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ChannelType, ConsentSource, DeliveryStatus
from db.models import Campaign, CampaignExecution, Delivery, EarlyStatus, TwilioChannel
from db.usecases.consent import change_consent


class Reported(StrEnum):
    """What a provider's status means for a lead."""

    PROGRESS = "progress"  # accepted, queued, sending, sent: nothing beyond SENT
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# Twilio's MessageStatus values of an outbound message.
TWILIO_STATUSES = {
    "accepted": Reported.PROGRESS,
    "scheduled": Reported.PROGRESS,
    "queued": Reported.PROGRESS,
    "sending": Reported.PROGRESS,
    "sent": Reported.PROGRESS,
    "delivered": Reported.DELIVERED,
    "read": Reported.READ,
    "failed": Reported.FAILED,
    "undelivered": Reported.FAILED,
    "canceled": Reported.FAILED,
}
# Errors that mean the recipient does not want the channel's messages: consent goes too.
OPT_OUT_CODES = frozenset({"21610", "63014"})


@dataclass(frozen=True)
class StatusEvent:
    """One report of a message's status, from the channel that sent it."""

    channel_id: int
    account_id: int
    channel_type: ChannelType
    message_sid: str
    status: str  # Twilio's MessageStatus, one of TWILIO_STATUSES
    at: datetime
    error_code: str = ""  # Twilio's ErrorCode, digits ("" for none)
    error_message: str = ""  # the code in words (jobs/channels/twilio/errors.py)

    @property
    def reported(self) -> Reported:
        return TWILIO_STATUSES[self.status]


@dataclass
class Applied:
    """What a batch of events changed: the leads, by account and campaign, and how many
    events were kept for a sid no lead holds yet."""

    changed: dict[int, dict[int, list[int]]] = field(default_factory=dict)
    kept_early: int = 0
    # The sids that named a lead (whether or not it changed).
    matched: set[str] = field(default_factory=set)

    def add(self, account_id: int, campaign_id: int, lead_id: int) -> None:
        self.changed.setdefault(account_id, {}).setdefault(campaign_id, []).append(lead_id)

    def add_all(self, account_id: int, changed: Mapping[int, Sequence[int]]) -> None:
        """The leads of an account's campaigns, by campaign."""
        for campaign_id, lead_ids in changed.items():
            self.changed.setdefault(account_id, {}).setdefault(campaign_id, []).extend(lead_ids)

    def merge(self, other: "Applied") -> None:
        """Takes in what `other` changed and counted."""
        for account_id, campaigns in other.changed.items():
            self.add_all(account_id, campaigns)
        self.kept_early += other.kept_early
        self.matched |= other.matched


@dataclass
class _Deltas:
    delivered: int = 0
    read: int = 0
    failed: int = 0


# Sids looked up per statement (SQLite allows 32,766 bound parameters).
_LOOKUP_CHUNK = 500
_T = Delivery.__table__
assert isinstance(_T, Table)
DELIVERIES: Table = _T


@dataclass
class _Lead:
    """A lead an event names, with its state as this transaction read it."""

    id: int
    campaign_id: int
    contact_id: int
    sent: bool  # still SENT (neither failed nor anything else)
    delivered: bool
    read: bool
    replied: bool


@dataclass
class _Plan:
    """What a batch's events ask of its leads, found by replaying each lead's events in
    order on the state read: delivered/read times by the time to set, failures by what
    they record. The UPDATEs still carry the rule's conditions, so a row another
    transaction changed meanwhile is changed only if the rule still allows it."""

    delivered: dict[datetime, list[int]] = field(default_factory=lambda: defaultdict(list))
    read: dict[datetime, list[int]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    # The event that failed each lead (for the opt-out codes).
    failure_of: dict[int, StatusEvent] = field(default_factory=dict)


async def apply_statuses(
    session: AsyncSession, events: Sequence[StatusEvent], *, keep_early: bool = True
) -> Applied:
    """Applies `events` in the caller's transaction, in a handful of statements whatever
    their number: one lookup, then one UPDATE per (column, time) and per failure kind,
    one per campaign's counters (IN lists chunked for SQLite's bound-parameter limit)."""
    applied = Applied()
    early: list[StatusEvent] = []
    known = [e for e in events if e.status in TWILIO_STATUSES]
    leads = await _leads_of(session, known)
    plan = _Plan()
    for event in sorted(known, key=lambda e: (e.message_sid, e.at)):
        lead = leads.get((event.message_sid, event.channel_id, event.account_id))
        if lead is not None:
            applied.matched.add(event.message_sid)
            _replay(event, lead, plan)
        elif keep_early and event.reported is not Reported.PROGRESS:
            early.append(event)
    if early:
        await session.execute(
            insert(EarlyStatus),
            [
                {
                    "channel_id": e.channel_id,
                    "message_sid": e.message_sid,
                    "status": e.status,
                    "error_code": e.error_code,
                    "error_message": e.error_message[:300],
                    "received_at": e.at,
                }
                for e in early
            ],
        )
        applied.kept_early = len(early)
    by_id = {lead.id: (key[2], lead) for key, lead in leads.items()}
    deltas: dict[int, _Deltas] = defaultdict(_Deltas)
    t = DELIVERIES
    for steps, column, counter in (
        (plan.delivered, t.c.delivered_at, "delivered"),
        (plan.read, t.c.read_at, "read"),
    ):
        for at, ids in sorted(steps.items()):
            for changed in await _update(
                session,
                ids,
                (t.c.status == DeliveryStatus.SENT, column.is_(None)),
                {column.key: at},
            ):
                account_id, lead = by_id[changed]
                d = deltas[lead.campaign_id]
                setattr(d, counter, getattr(d, counter) + 1)
                applied.add(account_id, lead.campaign_id, lead.id)
    failing = (
        t.c.status == DeliveryStatus.SENT,
        t.c.delivered_at.is_(None),
        t.c.read_at.is_(None),
        t.c.replied_at.is_(None),
    )
    for (code, text), ids in sorted(plan.failed.items()):
        values = {"status": DeliveryStatus.FAILED, "error_code": code, "error_message": text}
        for changed in await _update(session, ids, failing, values):
            account_id, lead = by_id[changed]
            deltas[lead.campaign_id].failed += 1
            applied.add(account_id, lead.campaign_id, lead.id)
            event = plan.failure_of[lead.id]
            if event.error_code in OPT_OUT_CODES:
                await _withdraw_consent(session, event, lead.contact_id, lead.id, applied)
    for campaign_id in sorted(deltas):
        d = deltas[campaign_id]
        await session.execute(
            update(CampaignExecution)
            .where(CampaignExecution.campaign_id == campaign_id)
            .values(
                total_delivered=CampaignExecution.total_delivered + d.delivered,
                total_read=CampaignExecution.total_read + d.read,
                total_sent=CampaignExecution.total_sent - d.failed,
                total_failed=CampaignExecution.total_failed + d.failed,
            )
        )
    return applied


def _replay(event: StatusEvent, lead: _Lead, plan: _Plan) -> None:
    """The rule, on the lead's state as read and as the batch's earlier events left it."""
    match event.reported:
        case Reported.DELIVERED | Reported.READ:
            if lead.sent and not lead.delivered:
                lead.delivered = True
                plan.delivered[event.at].append(lead.id)
            if event.reported is Reported.READ and lead.sent and not lead.read:
                lead.read = True
                plan.read[event.at].append(lead.id)
        case Reported.FAILED:
            if lead.sent and not (lead.delivered or lead.read or lead.replied):
                lead.sent = False
                plan.failed[(event.error_code, _failure(event))].append(lead.id)
                plan.failure_of[lead.id] = event
        case Reported.PROGRESS:
            pass


async def _update(
    session: AsyncSession,
    ids: Sequence[int],
    conditions: tuple[ColumnElement[bool], ...],
    values: dict[str, Any],
) -> list[int]:
    """`UPDATE deliveries SET values WHERE id IN ids AND conditions RETURNING id`, in
    chunks of ids (in id order, so overlapping transactions lock rows in one order)."""
    t = DELIVERIES
    wanted = sorted(set(ids))
    changed: list[int] = []
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        rows = await session.execute(
            update(t)
            .where(t.c.id.in_(wanted[start : start + _LOOKUP_CHUNK]), *conditions)
            .values(values)
            .returning(t.c.id)
        )
        changed.extend(rows.scalars())
    return sorted(changed)


async def _leads_of(
    session: AsyncSession, events: Sequence[StatusEvent]
) -> dict[tuple[str, int, int], _Lead]:
    """The lead of each event's sid, by (sid, channel, account): a lead counts for an
    event only when its campaign is the event's channel's, in the channel's account."""
    sids = sorted({e.message_sid for e in events})
    found: dict[tuple[str, int, int], _Lead] = {}
    for start in range(0, len(sids), _LOOKUP_CHUNK):
        rows = await session.execute(
            select(
                DELIVERIES.c.id,
                DELIVERIES.c.campaign_id,
                DELIVERIES.c.contact_id,
                DELIVERIES.c.message_id,
                DELIVERIES.c.account_id,
                DELIVERIES.c.status,
                DELIVERIES.c.delivered_at,
                DELIVERIES.c.read_at,
                DELIVERIES.c.replied_at,
                Campaign.twilio_channel_id,
                Campaign.account_id.label("campaign_account_id"),
            )
            .join(Campaign, Campaign.id == DELIVERIES.c.campaign_id)
            .where(DELIVERIES.c.message_id.in_(sids[start : start + _LOOKUP_CHUNK]))
        )
        for row in rows:
            if row.twilio_channel_id is None or row.account_id != row.campaign_account_id:
                continue
            key = (row.message_id, row.twilio_channel_id, row.account_id)
            found[key] = _Lead(
                row.id,
                row.campaign_id,
                row.contact_id,
                sent=row.status == DeliveryStatus.SENT,
                delivered=row.delivered_at is not None,
                read=row.read_at is not None,
                replied=row.replied_at is not None,
            )
    return found


def _failure(event: StatusEvent) -> str:
    text = event.error_message or f"Twilio reported the message {event.status}"
    return text[:2000]


async def _withdraw_consent(
    session: AsyncSession, event: StatusEvent, contact_id: int, lead_id: int, applied: Applied
) -> None:
    what = event.error_message or "opted out"
    changed = await change_consent(
        session,
        event.account_id,
        [contact_id],
        event.channel_type,
        granted=False,
        source=ConsentSource.PROVIDER,
        reason=f"Twilio error {event.error_code} in a status callback: {what}",
        now=event.at,
        delivery_id=lead_id,
    )
    for campaign_id, lead_ids in changed.opted_out.items():
        for other in lead_ids:
            applied.add(event.account_id, campaign_id, other)


async def apply_early(session: AsyncSession, sids: Iterable[str]) -> Applied:
    """Applies the kept callbacks of messages whose sids were just recorded (in the
    recorder's transaction, after the rows became SENT), and forgets them."""
    wanted = sorted({s for s in sids if s})
    if not wanted:
        return Applied()
    kept = (
        await session.execute(
            select(
                EarlyStatus.id,
                EarlyStatus.channel_id,
                TwilioChannel.account_id,
                TwilioChannel.channel_type,
                EarlyStatus.message_sid,
                EarlyStatus.status,
                EarlyStatus.received_at,
                EarlyStatus.error_code,
                EarlyStatus.error_message,
            )
            .join(TwilioChannel, TwilioChannel.id == EarlyStatus.channel_id)
            .where(EarlyStatus.message_sid.in_(wanted))
        )
    ).all()
    if not kept:
        return Applied()
    events = [
        StatusEvent(
            channel_id=row.channel_id,
            account_id=row.account_id,
            channel_type=ChannelType(row.channel_type.value),
            message_sid=row.message_sid,
            status=row.status,
            at=row.received_at,
            error_code=row.error_code,
            error_message=row.error_message,
        )
        for row in kept
    ]
    applied = await apply_statuses(session, events, keep_early=False)
    # A sid written by a claim that lost its row meanwhile named no lead: kept for the
    # claim that records it next (or pruned).
    done = [row.id for row in kept if row.message_sid in applied.matched]
    if done:
        await session.execute(delete(EarlyStatus).where(EarlyStatus.id.in_(done)))
    return applied


async def prune_early(session: AsyncSession, before: datetime) -> int:
    """Forgets kept callbacks received before `before` (their sid was never recorded)."""
    outcome = await session.execute(delete(EarlyStatus).where(EarlyStatus.received_at < before))
    count = getattr(outcome, "rowcount", 0)
    return int(count) if isinstance(count, int) and count > 0 else 0
