"""The delivery ledger's claims: a batch of due rows leased to one claim (in a short
transaction of the caller's), and the results that claim records after sending outside
any transaction. Only a row's current claim (its `claim_token`) can record it, so a late
writer whose lease was taken over changes nothing. Claims also count the channel's daily
quota.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    case,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ConsentSource, DeliveryStatus
from db.models import (
    CampaignExecution,
    Contact,
    Delivery,
)
from db.types import UtcDateTime
from db.usecases import quota_usage as usage
from db.usecases.claims import (
    TEMPLATE_FIELDS,
    Claim,
    Claimed,
    ClaimRequest,
    Stop,
    claim,
    claim_many,
    due_kinds,
    template_fields,
)
from db.usecases.consent import change_consent
from db.usecases.message_status import apply_early
from db.usecases.send_plan import SendPlan

__all__ = ["Claim", "ClaimRequest", "Claimed", "Stop", "claim", "claim_many", "due_kinds"]

# The lead's error message when its contact withdrew consent between its claim and its send.
WITHDRAWN = "Not sent: the contact withdrew consent for the channel before its turn came."


@dataclass
class Results:
    """What happened to the rows of one claim."""

    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # permanent: (id, reason)
    retry: list[tuple[int, str]] = field(default_factory=list)  # transient: (id, reason)
    # Lost after the message data went out: maybe delivered. Retried like `retry`, and
    # flagged a possible duplicate (a second copy may reach the recipient).
    unknown: list[tuple[int, str]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)  # not attempted: back to pending
    # The provider refused the message because the recipient withdrew consent for the
    # channel (Twilio's 21610): (id, reason); the contact's consent is withdrawn with it.
    opted_out: list[tuple[int, str]] = field(default_factory=list)
    # Not attempted: the contact withdrew consent after the claim (see `without_consent`).
    withdrawn: list[int] = field(default_factory=list)
    # The provider's id of a sent (or failed) row's message, when the provider names it.
    provider_ids: dict[int, str] = field(default_factory=dict)
    # The provider's error code of a failed, retried or opted-out row.
    error_codes: dict[int, str] = field(default_factory=dict)
    # Sent rows whose one message the provider showed: no longer possible duplicates.
    only_copy: list[int] = field(default_factory=list)

    def claimed(self) -> list[int]:
        """Every row of the claim."""
        settled = [i for i, _ in (*self.failed, *self.retry, *self.unknown, *self.opted_out)]
        return [*self.sent, *settled, *self.released, *self.withdrawn]


async def without_consent(
    session: AsyncSession, plan: SendPlan[Any], ids: Sequence[int]
) -> set[int]:
    """The claimed rows whose contact no longer consents to the plan's channel, in one
    query: right before a batch is sent when time has passed since its claim (which read
    the same with its rows). change_consent leaves claimed rows to the engine; a row
    released or retried after a withdrawal is pending again, claimed again, and left out."""
    consents = getattr(Contact, plan.consent_column)
    found = await session.scalars(
        select(Delivery.id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.id.in_(list(ids)), consents.is_(False))
    )
    return set(found)


async def recipients(
    session: AsyncSession, contact_ids: Sequence[int]
) -> dict[int, dict[str, str]]:
    """The fields templates see of each contact, by id (plain columns: a batch is hundreds
    of rows, and ORM objects would cost more than the rendering). A claim returns them
    with its rows (Claimed.contact); this is for what has no claim (a test send)."""
    columns = [getattr(Contact, name) for name in TEMPLATE_FIELDS]
    found = await session.execute(
        select(Contact.id, *columns).where(Contact.id.in_(list(contact_ids)))
    )
    return {row.id: fields for row in found if (fields := template_fields(row)) is not None}


@dataclass(frozen=True)
class Recording:
    """A claim's results to record: its plan, token and results, and when the rest of its
    campaign should be sent (from now; None: as it was)."""

    plan: SendPlan[Any]
    token: str
    results: Results
    eta: timedelta | None = None

    def only_sent(self) -> bool:
        """Every row of the claim was sent (the usual batch): recorded with others'."""
        r = self.results
        return not (r.failed or r.retry or r.unknown or r.released or r.opted_out or r.withdrawn)


async def record_many(
    session: AsyncSession,
    recordings: Sequence[Recording],
    now: datetime,
    retry_delays: Sequence[float],
) -> None:
    """Writes several claims' results (see `record`); the claims whose every row was sent,
    the usual batch, in a few statements for them all."""
    together = [r for r in recordings if r.only_sent()]
    for alone in (r for r in recordings if not r.only_sent()):
        eta = None if alone.eta is None else now + alone.eta
        await record(session, alone.plan, alone.token, alone.results, now, retry_delays, eta)
    if not together:
        return
    await _write_provider_ids(session, together)
    pairs = [(row_id, r.token) for r in together for row_id in r.results.sent]
    only_copy = [row_id for r in together for row_id in r.results.only_copy]
    outcome = await session.execute(
        update(Delivery)
        .where(
            tuple_(Delivery.id, Delivery.claim_token).in_(pairs),
            Delivery.status.in_([DeliveryStatus.SENDING, DeliveryStatus.CANCELLED]),
        )
        .values(
            status=DeliveryStatus.SENT,
            sent_at=now,
            error_message="",
            error_code="",
            lease_expires_at=None,
            claim_token=None,
            **_only_copies(only_copy),
        )
        .returning(Delivery.campaign_id)
        .execution_options(synchronize_session=False)
    )
    sent = Counter(outcome.scalars())
    executions = CampaignExecution.__table__
    assert isinstance(executions, Table)
    await session.execute(
        update(executions)
        .where(executions.c.campaign_id == bindparam("b_campaign_id"))
        .values(
            total_sent=executions.c.total_sent + bindparam("b_sent"),
            expected_completion_at=func.coalesce(
                bindparam("b_eta", type_=UtcDateTime), executions.c.expected_completion_at
            ),
            updated_at=now,
        ),
        [
            {
                "b_campaign_id": r.plan.campaign_id,
                "b_sent": sent[r.plan.campaign_id],
                "b_eta": None if r.eta is None else now + r.eta,
            }
            for r in together
        ],
    )
    await apply_early(session, [sid for r in together for sid in r.results.provider_ids.values()])


async def record(
    session: AsyncSession,
    plan: SendPlan[Any],
    token: str,
    results: Results,
    now: datetime,
    retry_delays: Sequence[float],
    expected_completion_at: datetime | None,
) -> None:
    """Writes a claim's results; rows no longer held by `token` are left alone.

    A transient failure goes back to pending with a growing `retry_at`, until the retry
    delays run out: then it fails. Rows never attempted return the quota they took.
    A row cancelled while its claim was sending keeps the token (see `cancel_campaign`),
    so what was sent or failed is still recorded; the rest of it stays cancelled.
    """
    held = Delivery.claim_token == token
    mine = (held, Delivery.status == DeliveryStatus.SENDING)
    mine_or_cancelled = (
        held,
        Delivery.status.in_([DeliveryStatus.SENDING, DeliveryStatus.CANCELLED]),
    )
    done = {"lease_expires_at": None, "claim_token": None}
    await _write_provider_ids(session, [Recording(plan, token, results)])
    sent = 0
    if results.sent:
        outcome = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(results.sent), *mine_or_cancelled)
            .values(
                status=DeliveryStatus.SENT,
                sent_at=now,
                error_message="",
                error_code="",
                **_only_copies(results.only_copy),
                **done,
            )
            .execution_options(synchronize_session=False)
        )
        sent = rowcount(outcome)
    again = [(i, reason, False) for i, reason in results.retry]
    again += [(i, reason, True) for i, reason in results.unknown]
    attempts: dict[int, int] = {}
    if again:
        tried_before = await session.execute(
            select(Delivery.id, Delivery.attempts).where(Delivery.id.in_([i for i, _, _ in again]))
        )
        attempts = dict(tried_before.all())
    failed = list(results.failed)
    for delivery_id, reason, maybe_sent in again:
        tried = attempts.get(delivery_id, 0) + 1
        flag = {"possible_duplicate": True} if maybe_sent else {}
        if tried > len(retry_delays):
            failed.append((delivery_id, f"{reason} (gave up after {tried} attempts)"))
            if maybe_sent:
                await session.execute(
                    update(Delivery).where(Delivery.id == delivery_id, held).values(**flag)
                )
            continue
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, *mine)
            .values(
                status=DeliveryStatus.PENDING,
                attempts=tried,
                retry_at=now + timedelta(seconds=retry_delays[tried - 1]),
                error_message=reason,
                error_code=results.error_codes.get(delivery_id, ""),
                **flag,
                **done,
            )
            .execution_options(synchronize_session=False)
        )
    failed_count = 0
    for delivery_id, reason in failed:
        outcome = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, *mine_or_cancelled)
            .values(
                status=DeliveryStatus.FAILED,
                attempts=Delivery.attempts + 1,
                error_message=reason[:2000],
                error_code=results.error_codes.get(delivery_id, ""),
                **done,
            )
            .execution_options(synchronize_session=False)
        )
        failed_count += rowcount(outcome)
    opted_out = await _opt_out(session, plan, results, now, mine_or_cancelled, done)
    unsent = 0
    if results.withdrawn:
        outcome = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(results.withdrawn), *mine)
            .values(
                status=DeliveryStatus.OPTED_OUT,
                error_message=WITHDRAWN,
                error_code="",
                retry_at=None,
                **done,
            )
            .execution_options(synchronize_session=False)
        )
        unsent = rowcount(outcome)
        opted_out += unsent
    if results.released:
        outcome = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(results.released), *mine)
            .values(status=DeliveryStatus.PENDING, **done)
            .execution_options(synchronize_session=False)
        )
        unsent += rowcount(outcome)
    if unsent:
        await usage.give_back(session, plan.channel_key, plan.quota_window, now, unsent)
    # Whatever the claim still holds was cancelled meanwhile: it lets go.
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(results.claimed()), held)
        .values(**done)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == plan.campaign_id)
        .values(
            total_sent=CampaignExecution.total_sent + sent,
            total_failed=CampaignExecution.total_failed + failed_count,
            total_skipped=CampaignExecution.total_skipped + opted_out,
            expected_completion_at=expected_completion_at
            or CampaignExecution.expected_completion_at,
            updated_at=now,
        )
    )
    # Callbacks that came before the sids were written here (Twilio can call back within
    # milliseconds of the create), now that their rows are sent.
    await apply_early(session, results.provider_ids.values())


async def _opt_out(
    session: AsyncSession,
    plan: SendPlan[Any],
    results: Results,
    now: datetime,
    mine_or_cancelled: tuple[ColumnElement[bool], ...],
    done: dict[str, Any],
) -> int:
    """Withdraws the consent for the channel of the contacts whose rows the provider refused
    because they opted out, through change_consent, recorded with the error and the row
    (no later campaign sends to them; their pending leads in the channel's running
    campaigns are opted out); then marks those rows the claim still holds. Returns how
    many rows it marked."""
    if not results.opted_out:
        return 0
    # The provider's answer holds whoever holds the row now: the consent goes either way.
    # Withdrawn first: change_consent locks the contacts, then their leads, and so does
    # every other change of consent (the other order could deadlock with one).
    reasons = dict(results.opted_out)
    contact_of = await session.execute(
        select(Delivery.id, Delivery.contact_id).where(Delivery.id.in_(list(reasons)))
    )
    by_reason: dict[str, dict[int, int]] = {}
    for delivery_id, contact_id in contact_of:
        code = results.error_codes.get(delivery_id, "")
        why = f"The provider refused a message with error {code or '(none)'}: "
        by_reason.setdefault(why + reasons[delivery_id], {})[contact_id] = delivery_id
    for reason, deliveries in by_reason.items():
        await change_consent(
            session,
            plan.account_id,
            list(deliveries),
            plan.channel_type,
            granted=False,
            source=ConsentSource.PROVIDER,
            reason=reason,
            now=now,
            delivery_ids=deliveries,
        )
    marked = 0
    for delivery_id, reason in results.opted_out:
        outcome = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, *mine_or_cancelled)
            .values(
                status=DeliveryStatus.OPTED_OUT,
                attempts=Delivery.attempts + 1,
                error_message=reason[:2000],
                error_code=results.error_codes.get(delivery_id, ""),
                **done,
            )
            .execution_options(synchronize_session=False)
        )
        marked += rowcount(outcome)
    return marked


def _only_copies(only_copy: Sequence[int]) -> dict[str, Any]:
    """`possible_duplicate` cleared for the rows known to have exactly one message."""
    if not only_copy:
        return {}
    single = Delivery.id.in_(list(only_copy))
    return {"possible_duplicate": case((single, False), else_=Delivery.possible_duplicate)}


async def _write_provider_ids(session: AsyncSession, recordings: Sequence[Recording]) -> None:
    """Each row's provider id (Twilio's MessageSid) as its `message_id`, while its claim
    still holds it: one statement of one shape run for every row (a statement shaped by
    the batch would be compiled and cached again for every batch size)."""
    ids = [
        {"row_id": row_id, "token": r.token, "provider_id": sid}
        for r in recordings
        for row_id, sid in r.results.provider_ids.items()
    ]
    if not ids:
        return
    table = Delivery.__table__
    assert isinstance(table, Table)
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.claim_token == bindparam("token"))
        .values(message_id=bindparam("provider_id")),
        ids,
    )


def rowcount(result: object) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) and count > 0 else 0
