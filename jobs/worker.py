"""The arq worker: standalone (`clarion worker`) or inside `clarion serve` (embedded).

Its jobs: `send_campaign` (jobs/send.py), `send_test_email` (jobs/test_email.py),
`follow_approval` (jobs/approval.py), the sweeper cron (jobs/sweeper.py) and the status
catch-up cron (jobs/status_catchup.py); beside them, the consumer of the queued status
callbacks (jobs/status_queue.py). Resources
the jobs share (SMTP pools, the pacer, the unsubscribe signing key) are made at start-up
and closed at shutdown.

Stopping is graceful: `stop` stops taking jobs, asks running sends to finish their chunk,
record it and hand over, waits for them, and only then closes the worker (arq's own close
cancels whatever still runs, which could leave a message sent but unrecorded). The same
happens when the worker loses Redis, after which `SupervisedWorker` starts a new one.
"""

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from arq import cron, func
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.exceptions import RedisError

from db.engine import Database
from db.secrets import attach, load_keyring, seal_stored_secrets
from db.settings import Settings
from db.unsubscribe import signing_key
from jobs.approval import follow_approval
from jobs.channels.families import channel_families
from jobs.inbound_queue import InboundConsumer
from jobs.ledger_groups import LedgerGroups
from jobs.pacing import ChannelPacer
from jobs.queue import FOLLOW_APPROVAL, SEND_CAMPAIGN, SEND_TEST_EMAIL
from jobs.run_set import RunSet
from jobs.send import JOB_TIMEOUT_S, WorkerContext, send_campaign
from jobs.status_catchup import CATCH_UP_EVERY_S, catch_up_statuses
from jobs.status_queue import StatusConsumer
from jobs.sweeper import SWEEP_EVERY_S, sweep
from jobs.tasks import end_within
from jobs.test_email import send_test_email

log = logging.getLogger(__name__)

# Campaigns one worker process sends at once.
MAX_JOBS = 10
STOP_GRACE_S = 30.0
# A worker that lost Redis: its sends have this long to hand over before they are cancelled.
RETIRE_GRACE_S = 10.0
# Backoff between restarts of a worker that keeps failing (Redis still away).
RESTART_MIN_S = 0.5
RESTART_MAX_S = 10.0
RESTART_RESET_AFTER_S = 60.0


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
            families=channel_families(db, settings, key, redis),
            pacer=ChannelPacer(redis),
            ledger=LedgerGroups(
                db,
                timedelta(seconds=settings.sending.lease_seconds),
                settings.sending.retry_delays,
            ),
            runs=RunSet(redis, settings.sending.max_campaigns_per_worker),
        )

    return Worker(
        functions=[
            # It only adopts the campaign into the worker's runs (jobs/run_set.py).
            func(send_campaign, name=SEND_CAMPAIGN, timeout=30),
            # Its caller waits for the answer, so it is kept for a while.
            func(send_test_email, name=SEND_TEST_EMAIL, keep_result=60, max_tries=1),
            # One read of a template's approval; it queues the next itself.
            func(follow_approval, name=FOLLOW_APPROVAL, max_tries=1, timeout=30),
        ],
        cron_jobs=[
            cron(
                sweep,
                second=set(range(0, 60, SWEEP_EVERY_S)),
                run_at_startup=True,
                timeout=JOB_TIMEOUT_S,
            ),
            # Leads whose status callbacks never came (jobs/status_catchup.py).
            cron(
                catch_up_statuses,
                second=set(range(0, 60, CATCH_UP_EVERY_S)),
                timeout=JOB_TIMEOUT_S,
            ),
        ],
        redis_pool=redis,
        on_startup=startup,
        handle_signals=False,
        job_timeout=JOB_TIMEOUT_S,
        # A kept result is of no use: the ledger is the record.
        keep_result=0,
        max_jobs=MAX_JOBS,
        poll_delay=0.2,
    )


class SupervisedWorker:
    """An arq worker that outlives Redis outages. arq's worker ends at the first error of
    its Redis (arq.worker.Worker.main does not catch it); when it does, its running jobs
    are asked to hand over (their runner locks are lost anyway), its resources closed,
    and a fresh worker starts on the same pool, after a backoff while Redis stays away.
    The campaigns lose nothing: rows claimed by a run that died come back when their
    lease ends, flagged possible_duplicate, and the sweeper queues the campaign again."""

    def __init__(self, redis: ArqRedis, db: Database, settings: Settings) -> None:
        self._redis = redis
        self._db = db
        self._settings = settings
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.worker: Worker | None = None
        # Applies the queued status callbacks (jobs/status_queue.py); it rides out Redis
        # outages itself, so it lives beside the arq workers, not in one.
        self._statuses = StatusConsumer(db, redis)
        # And the queued inbound messages (jobs/inbound_queue.py), the same way.
        window = timedelta(days=settings.reply_attribution_days)
        self._inbound = InboundConsumer(db, redis, window)

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise())
        self._statuses.start()
        self._inbound.start()

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_MIN_S
        while not self._stopping.is_set():
            worker = self.worker = build_worker(self._redis, self._db, self._settings)
            began = loop.time()
            try:
                await worker.async_run()
                return  # not in burst mode: only stop() ends it
            except Exception as exc:
                if loop.time() - began > RESTART_RESET_AFTER_S:
                    delay = RESTART_MIN_S
                if isinstance(exc, RedisError | OSError):
                    log.warning("worker lost Redis (%s); restarting in %.1f s", exc, delay)
                else:
                    log.exception("worker failed; restarting in %.1f s", delay)
            await _retire(worker, RETIRE_GRACE_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, RESTART_MAX_S)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stops taking jobs, lets running jobs finish (sends end after their chunk), then
        closes the worker. The Redis pool stays open: it is the caller's."""
        self._stopping.set()
        await self._statuses.stop()
        await self._inbound.stop()
        if self.worker is not None:
            await _retire(self.worker, grace_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def _retire(worker: Worker, grace_s: float) -> None:
    """Ends `worker`: no new jobs, running jobs and campaign runs end (runs hand over after
    their chunk; both cancelled after `grace_s`), its main loop cancelled, its resources
    closed. Not arq's close(), which needs Redis and closes the pool the API shares."""
    worker.allow_pick_jobs = False
    jobs = list(worker.tasks.values())
    wc: WorkerContext | None = worker.ctx.get("clarion")
    if wc is not None:
        wc.stopping.set()
        await asyncio.gather(end_within(jobs, grace_s, "job(s)"), wc.runs.stop(grace_s))
    else:
        await end_within(jobs, grace_s, "job(s)")
    for job in worker.tasks.values():  # a job whose result could not reach Redis
        if not job.cancelled() and job.exception() is not None:
            log.debug("job ended with %r", job.exception())
    worker.tasks.clear()
    if worker.main_task is not None and not worker.main_task.done():
        worker.main_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker.main_task
    with contextlib.suppress(RedisError, OSError):
        await worker.pool.delete(worker.health_check_key)
    if "clarion" in worker.ctx:
        wc = worker.ctx.pop("clarion")
        await wc.drain()  # results of cancelled jobs' batches still being recorded (shielded)
        await wc.ledger.close()
        await wc.families.close()
