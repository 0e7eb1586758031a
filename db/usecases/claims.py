"""Claims of the delivery ledger: batches of due rows, each leased to one claim (its token)
in a short transaction of the caller's. Several campaigns' batches are claimed together in
a few statements (`claim_many`): a worker sending many campaigns at modest rates pays for
a claim per moment, not per campaign. Claims also count their channels' quotas.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.clock import as_utc, now_column
from db.enums import CampaignStatus, DeliveryStatus, ExecutionStatus
from db.models import Campaign, CampaignExecution, Contact, Delivery
from db.quota import QuotaWindow, frees_at
from db.types import UtcDateTime
from db.usecases import quota_usage as usage
from db.usecases.send_plan import SendPlan


@dataclass(frozen=True)
class Claimed:
    id: int
    contact_id: int
    address: str
    message_id: str
    variables: dict[str, str] | None
    # Taken back from an expired lease or retried after an unknown outcome: it may have
    # been sent already.
    possible_duplicate: bool
    # The row's first claim (this one's, or an earlier attempt's): no message is older.
    first_claimed_at: datetime | None = None
    # Its contact consents to the channel, as of the claim (see ledger.without_consent).
    consents: bool = True
    # Its contact's fields that content sees (`template_fields`), as of the claim; None:
    # the contact is gone.
    contact: dict[str, str] | None = None


class Stop(StrEnum):
    """Why a claim returned nothing to send."""

    NOT_RUNNING = "not_running"  # paused, cancelled, halted or finished meanwhile
    QUOTA = "quota"  # the channel's daily quota is used up
    NOTHING_DUE = "nothing_due"  # no row is due now (see executions.backlog)


@dataclass(frozen=True)
class Claim:
    rows: list[Claimed]
    stop: Stop | None = None
    # The database's time at the claim: the one clock of leases and quota windows.
    now: datetime | None = None
    # Stop.QUOTA: when the channel's quota window has room again.
    frees_at: datetime | None = None

    def ids(self) -> list[int]:
        return [row.id for row in self.rows]

    def withdrawn(self) -> frozenset[int]:
        """Rows whose contact no longer consented to the channel at the claim: the engine
        sends them nothing."""
        return frozenset(row.id for row in self.rows if not row.consents)


@dataclass(frozen=True)
class ClaimRequest:
    """Up to `limit` due rows of the plan's campaign, for the claim `token`."""

    plan: SendPlan[Any]
    limit: int
    token: str


def due_kinds(now: datetime) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The two kinds of row to send now: pending past its retry time, and claimed by a
    claim whose lease ran out (its claimer died or hung mid-send). Kept apart rather than
    OR-ed, so each is a range of the (campaign_id, status, id) index: an OR makes the
    database read and sort the campaign's whole ledger for every batch."""
    return (
        (Delivery.status == DeliveryStatus.PENDING)
        & or_(Delivery.retry_at.is_(None), Delivery.retry_at <= now),
        (Delivery.status == DeliveryStatus.SENDING) & (Delivery.lease_expires_at <= now),
    )


async def claim(
    session: AsyncSession, plan: SendPlan[Any], limit: int, lease: timedelta, token: str
) -> Claim:
    """One campaign's claim (see `claim_many`)."""
    (one,) = await claim_many(session, [ClaimRequest(plan, limit, token)], lease)
    return one


async def claim_many(
    session: AsyncSession, requests: Sequence[ClaimRequest], lease: timedelta
) -> list[Claim]:
    """Each request's claim, in order: up to `limit` due rows of its campaign in ledger
    order, leased to its token until now + lease, now by the database's clock (returned in
    the claim), whichever process claims. At most one request per campaign.

    Due: pending rows past their `retry_at`, and rows whose claim's lease expired (their
    claimer died mid-send: they may have been sent, so they are marked possible duplicates).
    With a `message_id_domain` in its plan, each row gets a fresh Message-ID, recorded
    before anything is sent. Requests on one channel share its quota in order.
    """
    assert len({r.plan.campaign_id for r in requests}) == len(requests), "one per campaign"
    # Locks the campaigns' rows (FOR SHARE on PostgreSQL; SQLite's BEGIN IMMEDIATE already
    # serialises writers), so a pause or cancel commits wholly before or after this claim.
    found = (
        await session.execute(
            select(Campaign.id, Campaign.status, CampaignExecution.status, now_column(session))
            .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
            .where(Campaign.id.in_([r.plan.campaign_id for r in requests]))
            .order_by(Campaign.id)
            .with_for_update(read=True, of=Campaign)
        )
    ).all()
    sending = {row[0] for row in found if (row[1], row[2]) == _SENDING}
    if not found:
        return [Claim([], Stop.NOT_RUNNING) for _ in requests]
    now = as_utc(found[0][3])
    claims: dict[int, Claim] = {
        r.plan.campaign_id: Claim([], Stop.NOT_RUNNING)
        for r in requests
        if r.plan.campaign_id not in sending
    }
    live = [r for r in requests if r.plan.campaign_id in sending]
    wanted = await _within_quotas(session, live, now, claims)
    rows = await _take_rows(session, wanted, lease, now)
    taken: dict[tuple[str, QuotaWindow], int] = defaultdict(int)
    for request, _ in wanted:
        mine = rows.get(request.plan.campaign_id, [])
        claims[request.plan.campaign_id] = (
            Claim(mine, now=now) if mine else Claim([], Stop.NOTHING_DUE, now)
        )
        taken[_quota_key(request.plan)] += len(mine)
    await usage.take_many(session, taken, now)
    return [claims[r.plan.campaign_id] for r in requests]


_SENDING = (CampaignStatus.RUNNING, ExecutionStatus.PROCESSING)


def _quota_key(plan: SendPlan[Any]) -> tuple[str, QuotaWindow]:
    """Whose quota a plan's messages count against: its channel, in its window."""
    return plan.channel_key, plan.quota_window


async def _within_quotas(
    session: AsyncSession,
    requests: Sequence[ClaimRequest],
    now: datetime,
    claims: dict[int, Claim],
) -> list[tuple[ClaimRequest, int]]:
    """Each request with the rows it may claim within its channel's quota (shared in
    order by the requests on one channel); a request with no room gets its Stop.QUOTA
    claim in `claims` instead."""
    used = await usage.used_many(session, {_quota_key(r.plan) for r in requests}, now)
    left = {_quota_key(r.plan): r.plan.daily_quota - used[_quota_key(r.plan)] for r in requests}
    out = []
    for request in requests:
        key = _quota_key(request.plan)
        if left[key] <= 0:
            oldest = await usage.oldest(session, key[0], key[1], now)
            claims[request.plan.campaign_id] = Claim(
                [], Stop.QUOTA, now, frees_at(key[1], now, oldest)
            )
            continue
        n = min(request.limit, left[key])
        left[key] -= n
        out.append((request, n))
    return out


async def _take_rows(
    session: AsyncSession,
    wanted: Sequence[tuple[ClaimRequest, int]],
    lease: timedelta,
    now: datetime,
) -> dict[int, list[Claimed]]:
    """The due rows of each request's campaign, up to its number, leased to its token:
    pending rows first, then expired leases for the requests still short of rows."""
    got: dict[int, list[Claimed]] = defaultdict(list)
    short = list(wanted)
    for kind in due_kinds(now):
        if not short:
            break
        found = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(_due_ids(short, kind)))
            .values(
                # A row taken back from an expired lease may have reached its recipient.
                possible_duplicate=case(
                    (Delivery.status == DeliveryStatus.SENDING, True),
                    else_=Delivery.possible_duplicate,
                ),
                status=DeliveryStatus.SENDING,
                first_claimed_at=func.coalesce(
                    Delivery.first_claimed_at, literal(now, UtcDateTime)
                ),
                lease_expires_at=now + lease,
                claim_token=_by_campaign(short, lambda r: r.token),
                message_id=_message_ids(short),
            )
            .returning(
                Delivery.campaign_id,
                Delivery.id,
                Delivery.contact_id,
                Delivery.address,
                Delivery.message_id,
                Delivery.variables,
                Delivery.possible_duplicate,
                Delivery.first_claimed_at,
                _consents(short),
                *_CONTACT_FIELDS,
            )
            .execution_options(synchronize_session=False)
        )
        for row in found:
            got[row.campaign_id].append(
                Claimed(
                    id=row.id,
                    contact_id=row.contact_id,
                    address=row.address,
                    message_id=row.message_id,
                    variables=row.variables,
                    possible_duplicate=row.possible_duplicate,
                    first_claimed_at=row.first_claimed_at,
                    consents=bool(row.consents),
                    contact=template_fields(row, prefix="contact_"),
                )
            )
        short = [
            (r, n - len(got[r.plan.campaign_id]))
            for r, n in short
            if len(got[r.plan.campaign_id]) < n
        ]
    return {campaign_id: sorted(rows, key=lambda c: c.id) for campaign_id, rows in got.items()}


# The contact fields content sees, read with the claim (no query of their own): one
# lookup by primary key each, returned as contact_<name>.
TEMPLATE_FIELDS = ("email", "first_name", "last_name", "phone", "whatsapp", "country", "source")
_CONTACT_FIELDS = [
    select(getattr(Contact, name))
    .where(Contact.id == Delivery.contact_id)
    .scalar_subquery()
    .label(f"contact_{name}")
    for name in TEMPLATE_FIELDS
]


def template_fields(row: Any, prefix: str = "") -> dict[str, str] | None:
    """The fields content sees of a contact read as `<prefix><name>` columns (None when the
    contact is gone: every contact has a source)."""
    source = getattr(row, f"{prefix}source")
    if source is None:
        return None
    values = {name: getattr(row, f"{prefix}{name}") for name in TEMPLATE_FIELDS}
    return {
        **{name: value or "" for name, value in values.items()},
        "source": source.value if hasattr(source, "value") else str(source),
    }


def _due_ids(wanted: Sequence[tuple[ClaimRequest, int]], kind: ColumnElement[bool]) -> Select[Any]:
    """The ids of each campaign's first due rows of `kind`, up to its number: one range of
    the (campaign_id, status, id) index per campaign, skipping rows another claim holds."""
    parts = []
    for request, n in wanted:
        first = (
            select(Delivery.id)
            .where(Delivery.campaign_id == request.plan.campaign_id, kind)
            .order_by(Delivery.id)
            .limit(n)
            .with_for_update(skip_locked=True)
            .subquery()
        )
        parts.append(select(first.c.id))
    return parts[0] if len(parts) == 1 else select(union_all(*parts).subquery().c.id)


def _by_campaign(
    wanted: Sequence[tuple[ClaimRequest, int]], value: Any
) -> ColumnElement[Any] | Any:
    """`value(request)` for each row, chosen by its campaign."""
    if len(wanted) == 1:
        return value(wanted[0][0])
    return case({r.plan.campaign_id: value(r) for r, _ in wanted}, value=Delivery.campaign_id)


def _message_ids(wanted: Sequence[tuple[ClaimRequest, int]]) -> ColumnElement[str] | str:
    """A fresh Message-ID per row for the plans that name their messages, else ""."""
    named = [(r, n) for r, n in wanted if r.plan.message_id_domain is not None]
    if not named:
        return ""
    suffix = _by_campaign(named, lambda r: f".{r.token}@{r.plan.message_id_domain}>")
    message_id = literal("<") + cast(Delivery.id, String) + suffix
    if len(named) == len(wanted):
        return message_id
    ids = [r.plan.campaign_id for r, _ in named]
    return case((Delivery.campaign_id.in_(ids), message_id), else_=literal(""))


def _consents(wanted: Sequence[tuple[ClaimRequest, int]]) -> ColumnElement[bool]:
    """Whether each row's contact consents to its plan's channel (read with the claim: no
    query of its own)."""

    def consent(column: str) -> ColumnElement[bool]:
        return (
            select(getattr(Contact, column).is_not(False))
            .where(Contact.id == Delivery.contact_id)
            .scalar_subquery()
        )

    columns: dict[str, list[int]] = defaultdict(list)
    for request, _ in wanted:
        columns[request.plan.consent_column].append(request.plan.campaign_id)
    if len(columns) == 1:
        return consent(next(iter(columns))).label("consents")
    whens = [(Delivery.campaign_id.in_(ids), consent(column)) for column, ids in columns.items()]
    return case(*whens).label("consents")
