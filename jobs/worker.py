"""The arq worker: standalone (`clarion worker`) or inside `clarion serve` (embedded).

Its jobs: `send_campaign` (jobs/send.py), `send_test_email` (jobs/test_email.py) and the
sweeper cron (jobs/sweeper.py). Resources the jobs share (SMTP pools, the pacer, render
processes, the unsubscribe signing key) are made at start-up and closed at shutdown.

Stopping is graceful: `stop` stops taking jobs, asks running sends to finish their chunk,
record it and hand over, waits for them, and only then closes the worker (arq's own close
cancels whatever still runs, which could leave a message sent but unrecorded).
"""

import asyncio
import contextlib
import logging
from typing import Any

from arq import cron, func
from arq.connections import ArqRedis
from arq.worker import Worker

from db.engine import Database
from db.secrets import attach, load_keyring, seal_stored_secrets
from db.settings import Settings
from db.unsubscribe import signing_key
from jobs.pacing import ChannelPacer
from jobs.queue import SEND_CAMPAIGN, SEND_TEST_EMAIL
from jobs.render_pool import WORKER_RENDER_PROCESSES, RenderPool
from jobs.send import JOB_TIMEOUT_S, WorkerContext, send_campaign
from jobs.smtp import SmtpPools
from jobs.sweeper import SWEEP_EVERY_S, sweep
from jobs.test_email import send_test_email

log = logging.getLogger(__name__)

# Keep job timeouts short: arq's in-progress lock lives as long as the longest job timeout.
# JOB_TIMEOUT_S (jobs/send.py) is computed from the send job's slice and batch budget.

# Campaigns one worker process sends at once.
MAX_JOBS = 10
STOP_GRACE_S = 30.0


def build_worker(redis: ArqRedis, db: Database, settings: Settings) -> Worker:
    """An arq worker sharing `redis` and `db`. Signals are ours to handle (see `stop`)."""

    async def startup(ctx: dict[str, Any]) -> None:
        # Plans decrypt SMTP passwords with it; a key that cannot stops the start here.
        attach(db, load_keyring(settings.secret_keys, settings.data_dir))
        await seal_stored_secrets(db)
        async with db.write() as session:
            key = await signing_key(session)
        ctx["clarion"] = WorkerContext(
            db=db,
            redis=redis,
            settings=settings.sending,
            public_url=settings.public_url,
            signing_key=key,
            pools=SmtpPools(settings.sending.smtp_pool_size, settings.sending.smtp_allowed_hosts),
            pacer=ChannelPacer(redis),
            renderer=RenderPool(WORKER_RENDER_PROCESSES),
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "clarion" in ctx:
            wc: WorkerContext = ctx["clarion"]
            await wc.drain()  # results of cancelled jobs' batches still being recorded
            await wc.pools.close()
            await wc.renderer.close()

    return Worker(
        functions=[
            func(send_campaign, name=SEND_CAMPAIGN),
            # Its caller waits for the answer, so it is kept for a while.
            func(send_test_email, name=SEND_TEST_EMAIL, keep_result=60, max_tries=1),
        ],
        cron_jobs=[
            cron(
                sweep,
                second=set(range(0, 60, SWEEP_EVERY_S)),
                run_at_startup=True,
                timeout=JOB_TIMEOUT_S,
            )
        ],
        redis_pool=redis,
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=False,
        job_timeout=JOB_TIMEOUT_S,
        # A kept result is of no use: the ledger is the record.
        keep_result=0,
        max_jobs=MAX_JOBS,
        poll_delay=0.2,
    )


async def stop(worker: Worker, task: "asyncio.Task[None]", grace_s: float = STOP_GRACE_S) -> None:
    """Stops taking jobs, lets running jobs finish (sends end after their chunk), then
    closes the worker."""
    worker.allow_pick_jobs = False
    wc: WorkerContext | None = worker.ctx.get("clarion")
    if wc is not None:
        wc.stopping.set()
    running = [job for job in worker.tasks.values() if not job.done()]
    if running:
        _, late = await asyncio.wait(running, timeout=grace_s)
        if late:
            log.warning("%d job(s) still running after %.0fs; cancelling", len(late), grace_s)
    # Closing cancels late jobs; their batches' recordings (shielded) run on, and the
    # shutdown hook waits for them before the process goes.
    await worker.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
