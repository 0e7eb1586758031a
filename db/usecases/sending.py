"""The send pipeline's state changes, each one short transaction of the caller's.

A run of a campaign: `start_run` loads what it needs (a `SendPlan`), then repeatedly
`claim` a batch of the ledger under a lease, send it outside any transaction, and
`record` the results; `settle` ends the execution when nothing is left, `halt` stops it
until `next_run_at`. Only a row's current claim (its `claim_token`) can record it, so a
late writer whose lease was taken over changes nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, String, case, cast, exists, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.dialect import insert_for
from db.enums import CampaignStatus, DeliveryStatus, ExecutionStatus, SmtpSecurity
from db.models import (
    Account,
    Campaign,
    CampaignExecution,
    Contact,
    Delivery,
    EmailChannel,
    EmailChannelUsage,
    EmailTemplate,
)
from db.queries import get_owned
from db.state_machine import Action, next_status
from db.usecases.campaigns import Sender, check_sender, resolve_sender

ACTIVE_EXECUTION = (ExecutionStatus.PENDING, ExecutionStatus.PROCESSING)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: SmtpSecurity
    username: str
    password: str


@dataclass(frozen=True)
class TemplateSource:
    id: int
    version: datetime  # updated_at: a cache of compiled templates is keyed by (id, version)
    subject: str
    body_html: str
    body_text: str


@dataclass(frozen=True)
class SendPlan:
    """Everything a run needs that does not change while the campaign runs."""

    campaign_id: int
    account_id: int
    channel_id: int
    smtp: SmtpConfig
    rate_limit: int | None
    daily_quota: int
    template: TemplateSource
    sender: Sender
    utm_code: str
    # Spread the sends so the last goes at `deadline` (None: as fast as allowed).
    deadline: datetime | None


@dataclass(frozen=True)
class Claimed:
    id: int
    contact_id: int
    email: str
    message_id: str


class Stop(StrEnum):
    """Why a claim returned nothing to send."""

    NOT_RUNNING = "not_running"  # paused, cancelled, halted or finished meanwhile
    QUOTA = "quota"  # the channel's daily quota is used up
    NOTHING_DUE = "nothing_due"  # no row is due now (see `next_due`)


@dataclass(frozen=True)
class Claim:
    rows: list[Claimed]
    stop: Stop | None = None


@dataclass
class Results:
    """What happened to the rows of one claim."""

    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # permanent: (id, reason)
    retry: list[tuple[int, str]] = field(default_factory=list)  # transient: (id, reason)
    released: list[int] = field(default_factory=list)  # not attempted: back to pending


async def start_run(session: AsyncSession, campaign_id: int, now: datetime) -> SendPlan | None:
    """The plan of a running campaign whose execution may send; marks it processing.

    None when the campaign is not running or its execution is paused, halted or final.
    """
    found = (
        await session.execute(
            select(Campaign, CampaignExecution)
            .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
            .where(Campaign.id == campaign_id)
            .with_for_update(of=Campaign)
        )
    ).one_or_none()
    if found is None:
        return None
    campaign, execution = found
    if campaign.status is not CampaignStatus.RUNNING or execution.status not in ACTIVE_EXECUTION:
        return None
    if execution.status is ExecutionStatus.PENDING:
        execution.status = ExecutionStatus.PROCESSING
        execution.updated_at = now
    spread = campaign.execution_duration_minutes is not None
    return await plan_for(session, campaign, execution.expected_completion_at if spread else None)


async def plan_for(
    session: AsyncSession, campaign: Campaign, deadline: datetime | None
) -> SendPlan:
    assert campaign.email_channel_id is not None
    assert campaign.email_template_id is not None
    channel = await session.get_one(EmailChannel, campaign.email_channel_id)
    template = await session.get_one(EmailTemplate, campaign.email_template_id)
    account = await session.get_one(Account, campaign.account_id)
    return SendPlan(
        campaign_id=campaign.id,
        account_id=campaign.account_id,
        channel_id=channel.id,
        smtp=SmtpConfig(
            host=channel.smtp_host,
            port=channel.smtp_port,
            security=channel.smtp_security,
            username=channel.smtp_username,
            password=channel.smtp_password,
        ),
        rate_limit=channel.rate_limit,
        daily_quota=channel.daily_quota,
        template=TemplateSource(
            id=template.id,
            version=template.updated_at,
            subject=template.subject,
            body_html=template.body_html,
            body_text=template.body_text,
        ),
        sender=resolve_sender(campaign, channel, account),
        utm_code=campaign.utm_code,
        deadline=deadline,
    )


async def test_email_plan(
    session: AsyncSession, account_id: int, campaign_id: int, to: str
) -> tuple[SendPlan, Contact | None]:
    """What `sendTestEmail` sends (any status; nothing is changed): the campaign's plan, and
    the account's contact with address `to`, whose fields fill the template if there is one."""
    problems = v.Problems()
    problems.add(v.email(to, "email", needed=True))
    problems.raise_if_any()
    campaign = await get_owned(session, Campaign, account_id, campaign_id, "campaign_id")
    await check_sender(session, campaign)
    contact = await session.scalar(
        select(Contact).where(Contact.account_id == account_id, Contact.email == to.lower())
    )
    return await plan_for(session, campaign, None), contact


async def may_send(session: AsyncSession, campaign_id: int) -> bool:
    """True while the campaign is running and its execution is processing."""
    found = (
        await session.execute(
            select(Campaign.status, CampaignExecution.status)
            .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
            .where(Campaign.id == campaign_id)
        )
    ).one_or_none()
    return found is not None and (
        found[0] is CampaignStatus.RUNNING and found[1] is ExecutionStatus.PROCESSING
    )


def is_due(now: datetime) -> ColumnElement[bool]:
    """A ledger row to send now: pending and past its retry time, or claimed by a claim
    whose lease ran out (its claimer died or hung mid-send)."""
    return or_(
        (Delivery.status == DeliveryStatus.PENDING)
        & or_(Delivery.retry_at.is_(None), Delivery.retry_at <= now),
        (Delivery.status == DeliveryStatus.SENDING) & (Delivery.lease_expires_at <= now),
    )


async def claim(
    session: AsyncSession,
    plan: SendPlan,
    limit: int,
    now: datetime,
    lease: timedelta,
    token: str,
    message_id_domain: str,
) -> Claim:
    """Up to `limit` due rows, in ledger order, leased to `token` until now + lease.

    Due: pending rows past their `retry_at`, and rows whose claim's lease expired (their
    claimer died mid-send: they may have been sent, so they are marked possible duplicates).
    Each row gets a fresh Message-ID, recorded before anything is sent.
    """
    # Locks the campaign's rows (FOR SHARE on PostgreSQL; SQLite's BEGIN IMMEDIATE already
    # serialises writers), so a pause or cancel commits wholly before or after this claim.
    state = (
        await session.execute(
            select(Campaign.status, CampaignExecution.status)
            .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
            .where(Campaign.id == plan.campaign_id)
            .with_for_update(read=True, of=Campaign)
        )
    ).one_or_none()
    if state is None or (state[0], state[1]) != (
        CampaignStatus.RUNNING,
        ExecutionStatus.PROCESSING,
    ):
        return Claim([], Stop.NOT_RUNNING)
    quota_left = plan.daily_quota - await _used_today(session, plan.channel_id, now.date())
    if quota_left <= 0:
        return Claim([], Stop.QUOTA)

    due = (
        select(Delivery.id)
        .where(Delivery.campaign_id == plan.campaign_id, is_due(now))
        .order_by(Delivery.id)
        .limit(min(limit, quota_left))
        .with_for_update(skip_locked=True)
    )
    message_id = (
        literal("<") + cast(Delivery.id, String) + literal(f".{token}@{message_id_domain}>")
    )
    rows = (
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(due.scalar_subquery()))
            .values(
                possible_duplicate=case(
                    (Delivery.status == DeliveryStatus.SENDING, True),
                    else_=Delivery.possible_duplicate,
                ),
                status=DeliveryStatus.SENDING,
                lease_expires_at=now + lease,
                claim_token=token,
                message_id=message_id,
            )
            .returning(Delivery.id, Delivery.contact_id, Delivery.email, Delivery.message_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    claimed = sorted((Claimed(*row) for row in rows), key=lambda c: c.id)
    if not claimed:
        return Claim([], Stop.NOTHING_DUE)
    await _use_quota(session, plan.channel_id, now.date(), len(claimed))
    return Claim(claimed)


async def _used_today(session: AsyncSession, channel_id: int, day: date) -> int:
    await session.execute(
        insert_for(session, EmailChannelUsage)
        .values(channel_id=channel_id, day=day, used=0)
        .on_conflict_do_nothing()
    )
    used = await session.scalar(
        select(EmailChannelUsage.used)
        .where(EmailChannelUsage.channel_id == channel_id, EmailChannelUsage.day == day)
        .with_for_update()
    )
    return used or 0


async def _use_quota(session: AsyncSession, channel_id: int, day: date, n: int) -> None:
    await session.execute(
        update(EmailChannelUsage)
        .where(EmailChannelUsage.channel_id == channel_id, EmailChannelUsage.day == day)
        .values(used=EmailChannelUsage.used + n)
    )


async def recipients(session: AsyncSession, contact_ids: Sequence[int]) -> dict[int, Contact]:
    """The contacts of a claim, by id, for rendering."""
    found = await session.scalars(select(Contact).where(Contact.id.in_(list(contact_ids))))
    return {contact.id: contact for contact in found}


async def record(
    session: AsyncSession,
    plan: SendPlan,
    token: str,
    results: Results,
    now: datetime,
    retry_delays: Sequence[float],
    expected_completion_at: datetime | None,
) -> None:
    """Writes a claim's results; rows no longer held by `token` are left alone.

    A transient failure goes back to pending with a growing `retry_at`, until the retry
    delays run out: then it fails. Rows never attempted return the quota they took.
    """
    mine = (Delivery.claim_token == token, Delivery.status == DeliveryStatus.SENDING)
    done = {"lease_expires_at": None, "claim_token": None}
    sent = 0
    if results.sent:
        outcome = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(results.sent), *mine)
            .values(status=DeliveryStatus.SENT, sent_at=now, error_message="", **done)
            .execution_options(synchronize_session=False)
        )
        sent = _rowcount(outcome)
    attempts = dict(
        (
            await session.execute(
                select(Delivery.id, Delivery.attempts).where(
                    Delivery.id.in_([i for i, _ in results.retry])
                )
            )
        )
        .tuples()
        .all()
        if results.retry
        else []
    )
    failed = list(results.failed)
    for delivery_id, reason in results.retry:
        tried = attempts.get(delivery_id, 0) + 1
        if tried > len(retry_delays):
            failed.append((delivery_id, f"{reason} (gave up after {tried} attempts)"))
            continue
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, *mine)
            .values(
                status=DeliveryStatus.PENDING,
                attempts=tried,
                retry_at=now + timedelta(seconds=retry_delays[tried - 1]),
                error_message=reason,
                **done,
            )
            .execution_options(synchronize_session=False)
        )
    failed_count = 0
    for delivery_id, reason in failed:
        outcome = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, *mine)
            .values(
                status=DeliveryStatus.FAILED,
                attempts=Delivery.attempts + 1,
                error_message=reason[:2000],
                **done,
            )
            .execution_options(synchronize_session=False)
        )
        failed_count += _rowcount(outcome)
    if results.released:
        outcome = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(results.released), *mine)
            .values(status=DeliveryStatus.PENDING, **done)
            .execution_options(synchronize_session=False)
        )
        await _use_quota(session, plan.channel_id, now.date(), -_rowcount(outcome))
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == plan.campaign_id)
        .values(
            total_sent=CampaignExecution.total_sent + sent,
            total_failed=CampaignExecution.total_failed + failed_count,
            expected_completion_at=expected_completion_at
            or CampaignExecution.expected_completion_at,
            updated_at=now,
        )
    )


def _rowcount(result: object) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) and count > 0 else 0


@dataclass(frozen=True)
class Backlog:
    """Rows of a campaign still to send (pending or in flight), and when the next one is due
    (None: now)."""

    left: int
    next_at: datetime | None


async def backlog(session: AsyncSession, campaign_id: int) -> Backlog:
    left, next_at = (
        await session.execute(
            select(
                func.count(),
                func.min(
                    case(
                        (Delivery.status == DeliveryStatus.PENDING, Delivery.retry_at),
                        else_=Delivery.lease_expires_at,
                    )
                ),
            ).where(
                Delivery.campaign_id == campaign_id,
                Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
            )
        )
    ).one()
    return Backlog(left, next_at)


async def settle(session: AsyncSession, campaign_id: int, now: datetime) -> ExecutionStatus | None:
    """Ends the execution once no row is pending or in flight; the totals come from the
    ledger. Completed when none failed, failed when none was sent, else partially
    completed. Returns the final status, or None when something is still left to send."""
    counts = dict(
        (
            await session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.campaign_id == campaign_id)
                .group_by(Delivery.status)
            )
        )
        .tuples()
        .all()
    )
    if counts.get(DeliveryStatus.PENDING) or counts.get(DeliveryStatus.SENDING):
        return None
    campaign = await session.get_one(Campaign, campaign_id, with_for_update=True)
    if campaign.status is not CampaignStatus.RUNNING:
        return None
    sent, failed = counts.get(DeliveryStatus.SENT, 0), counts.get(DeliveryStatus.FAILED, 0)
    if failed == 0:
        final = ExecutionStatus.COMPLETED
    elif sent == 0:
        final = ExecutionStatus.FAILED
    else:
        final = ExecutionStatus.PARTIALLY_COMPLETED
    status = next_status(
        campaign.status, Action.FAIL if final is ExecutionStatus.FAILED else Action.FINISH
    )
    assert status is not None
    campaign.status = status
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign_id)
        .values(
            status=final,
            total_sent=sent,
            total_failed=failed,
            completed_at=now,
            last_run_at=now,
            next_run_at=None,
            updated_at=now,
            error_message="" if failed == 0 else f"{failed} recipient(s) failed; see the ledger.",
        )
    )
    return final


async def halt(
    session: AsyncSession, campaign_id: int, now: datetime, until: datetime, reason: str
) -> bool:
    """Stops a processing execution until `until`; the sweeper continues it then."""
    outcome = await session.execute(
        update(CampaignExecution)
        .where(
            CampaignExecution.campaign_id == campaign_id,
            CampaignExecution.status == ExecutionStatus.PROCESSING,
        )
        .values(
            status=ExecutionStatus.HALTED,
            next_run_at=until,
            error_message=reason[:2000],
            last_run_at=now,
            updated_at=now,
        )
    )
    return _rowcount(outcome) > 0


async def end_run(session: AsyncSession, campaign_id: int, now: datetime) -> None:
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign_id)
        .values(last_run_at=now)
    )


async def continue_halted(session: AsyncSession, now: datetime) -> list[int]:
    """Halted executions whose `next_run_at` came go back to processing; their campaigns."""
    due = (
        await session.scalars(
            select(CampaignExecution.campaign_id)
            .join(Campaign, Campaign.id == CampaignExecution.campaign_id)
            .where(
                CampaignExecution.status == ExecutionStatus.HALTED,
                CampaignExecution.next_run_at <= now,
                Campaign.status == CampaignStatus.RUNNING,
            )
        )
    ).all()
    if due:
        await session.execute(
            update(CampaignExecution)
            .where(
                CampaignExecution.campaign_id.in_(due),
                CampaignExecution.status == ExecutionStatus.HALTED,
            )
            .values(status=ExecutionStatus.PROCESSING, next_run_at=None, updated_at=now)
        )
    return list(due)


async def runnable(session: AsyncSession, now: datetime) -> list[int]:
    """Running campaigns whose execution may send and that have a row due now, or none
    left at all (their run ended before settling them)."""
    rows = await session.scalars(
        select(Campaign.id)
        .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
        .where(
            Campaign.status == CampaignStatus.RUNNING,
            CampaignExecution.status.in_(ACTIVE_EXECUTION),
            or_(
                exists().where(Delivery.campaign_id == Campaign.id, is_due(now)),
                ~exists().where(
                    Delivery.campaign_id == Campaign.id,
                    Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
                ),
            ),
        )
    )
    return list(rows.all())


async def due_scheduled(session: AsyncSession, now: datetime) -> list[int]:
    """Scheduled campaigns whose `scheduled_at` has come."""
    rows = await session.scalars(
        select(Campaign.id).where(
            Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= now
        )
    )
    return list(rows.all())
