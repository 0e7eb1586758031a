"""The status catch-up: an arq cron job that settles leads whose status callbacks never came.

Twilio sends each callback once and retries it once; one lost (Clarion down, a network
fault, a proxy, or a worker that died holding a batch popped from the status queue,
jobs/status_queue.py) is never sent again. Leads still only sent a while after sending
(CLARION_STATUS_CATCHUP_SECONDS) have their Message fetched through their channel's client,
and its status is applied exactly as a callback's would be
(db/usecases/message_status.py). Bounded per run and a few fetches at a time, so it stays
a small share of the channel's API use; a lead is fetched again no sooner than the same
wait, and not at all once its message is older than GIVE_UP. It also forgets early
callbacks whose sid was never recorded.
"""

import asyncio
import dataclasses
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from db.clock import db_now
from db.usecases.message_status import StatusEvent, apply_statuses, prune_early
from db.usecases.status_catchup import ChannelAccess, Waiting, channel_access, take_waiting
from jobs.channels.twilio.client import Credentials
from jobs.channels.twilio.status_events import status_event
from jobs.channels.twilio.transport import TwilioFamily
from jobs.lanes import alone
from jobs.lead_events import announce
from jobs.send import WorkerContext

log = logging.getLogger(__name__)

CATCH_UP_EVERY_S = 10
# Leads fetched per run at most, of one channel at most, and at once: in all, and of one
# channel (one account's slow endpoint holds two fetches, and its leads wait their turn).
PER_RUN = 200
PER_CHANNEL = 50
CONCURRENCY = 4
CHANNEL_CONCURRENCY = 2
FETCH_TIMEOUT_S = 15.0
# A run ends after this long; the leads it did not fetch are fetched after the usual wait.
RUN_BUDGET_S = 60.0
# Twilio keeps a message's status; past this a lead still unsettled is left as sent.
GIVE_UP_S = 3 * 86_400
# A callback kept for a sid no lead held is forgotten after this (a sid is recorded within
# a claim's lease, or after the retries of an unknown outcome, well within it).
EARLY_KEPT_S = 6 * 3600


async def catch_up_statuses(ctx: dict[str, Any]) -> int:
    """Returns how many leads' messages it fetched; once a tick on whichever worker takes
    it, never overlapping itself (its lane: jobs/lanes.py)."""
    wc: WorkerContext = ctx["clarion"]
    async with alone(wc.redis, "status-catch-up") as mine:
        return await _catch_up(wc) if mine else 0


async def _catch_up(wc: WorkerContext) -> int:
    async with wc.db.write() as session:
        now = await db_now(session)
        waiting = await take_waiting(
            session,
            now,
            _seconds(wc.settings.status_catchup_seconds),
            _seconds(GIVE_UP_S),
            PER_RUN,
            PER_CHANNEL,
        )
        await prune_early(session, now - _seconds(EARLY_KEPT_S))
        access = await channel_access(session, sorted({w.channel_id for w in waiting}))
    if not waiting:
        return 0
    family = wc.families["twilio"]
    assert isinstance(family, TwilioFamily)
    gate = asyncio.Semaphore(CONCURRENCY)
    per_channel: defaultdict[int, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(CHANNEL_CONCURRENCY)
    )
    found: list[StatusEvent] = []

    async def fetch(lead: Waiting) -> None:
        async with per_channel[lead.channel_id], gate:
            if event := await _fetch(family, access.get(lead.channel_id), lead, now):
                found.append(event)

    tasks = [asyncio.create_task(fetch(lead)) for lead in waiting]
    _, unfinished = await asyncio.wait(tasks, timeout=RUN_BUDGET_S)
    for task in unfinished:  # fetched again after the wait, like a failed fetch
        task.cancel()
    if unfinished:
        await asyncio.wait(unfinished)
    events = list(found)
    if events:
        async with wc.db.write() as session:
            now = await db_now(session)
            timed = [dataclasses.replace(e, at=now) for e in events]
            applied = await apply_statuses(session, timed, keep_early=False)
        for account_id, changed in applied.changed.items():
            try:
                await announce(wc.db, wc.redis, account_id, changed)
            except Exception as exc:  # subscribers miss it; the database has it
                log.warning("could not announce lead changes: %s", exc)
    log.info("status catch-up: fetched %d message(s), %d with news", len(waiting), len(events))
    return len(waiting)


async def _fetch(
    family: TwilioFamily, access: ChannelAccess | None, lead: Waiting, at: datetime
) -> StatusEvent | None:
    if access is None:  # the channel was deleted meanwhile
        return None
    credentials = Credentials(access.account_sid, access.auth_token, access.api_base_url)
    client = family.clients.get(lead.channel_id, credentials)
    try:
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            message = await client.messages(lead.message_sid).fetch_async()
    except Exception as exc:  # tried again after the wait
        log.info("could not fetch message %s: %s", lead.message_sid, type(exc).__name__)
        return None
    return status_event(
        lead.channel_id,
        lead.account_id,
        lead.channel_type,
        lead.message_sid,
        str(message.status or ""),
        message.error_code,
        at,  # replaced by the database's time when applied
    )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
