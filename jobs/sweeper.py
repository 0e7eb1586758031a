"""The sweeper: a periodic arq cron job (on one worker a tick: its lane, jobs/lanes.py)
that repairs what a lost job, a restart or a dead worker left behind, from the database's
truth.

- scheduled campaigns whose time came begin sending;
- halted executions whose `next_run_at` passed continue;
- running campaigns with rows due (including a dead worker's expired claims) and no live
  runner get a send job;
- WhatsApp approvals still followed whose follow job was lost get one (jobs/approval.py).
"""

import logging
from typing import Any

from db.clock import db_now
from db.usecases import executions
from db.usecases.campaign_lifecycle import begin_due
from jobs.approval import follow_lost
from jobs.heartbeat import record_tick
from jobs.lanes import alone
from jobs.progress import publish
from jobs.queue import enqueue_send
from jobs.runner_lock import runner_key
from jobs.send import WorkerContext

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 2


async def sweep(ctx: dict[str, Any]) -> int:
    """Returns how many campaigns it queued; once a tick on whichever worker takes it."""
    wc: WorkerContext = ctx["clarion"]
    async with alone(wc.redis, "sweep") as mine:
        return await _sweep(wc) if mine else 0


async def _sweep(wc: WorkerContext) -> int:
    async with wc.db.read() as session:
        now = await db_now(session)  # one clock for every worker's sweeps and leases
        scheduled = await executions.due_scheduled(session, now)
    started = []
    for campaign_id in scheduled:
        async with wc.db.write() as session:
            if await begin_due(session, campaign_id, now):
                started.append(campaign_id)
    async with wc.db.write() as session:
        continued = await executions.continue_halted(session, now)
    async with wc.db.read() as session:
        runnable = await executions.runnable(session, now)
    for campaign_id in [*scheduled, *continued]:  # their status changed (or failed to)
        await publish(wc.db, wc.redis, campaign_id)
    queued = 0
    for campaign_id in dict.fromkeys([*started, *continued, *runnable]):
        if not await wc.redis.exists(runner_key(campaign_id)):
            await enqueue_send(wc.redis, campaign_id)
            queued += 1
    if queued:
        log.info("sweeper queued %d campaign(s)", queued)
    if followed := await follow_lost(wc.db, wc.redis, wc.settings.approval_poll_seconds[1]):
        log.info("sweeper queued %d approval check(s)", followed)
    await record_tick(wc.redis)  # the work above is done: /health sees a working worker
    return queued
