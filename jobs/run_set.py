"""The campaigns one worker process sends: each run a task of its own, not an arq job.

A send job only adopts its campaign: it takes the campaign's runner lock (jobs/runner_lock.py)
and starts the run here, then ends at once. So the number of campaigns a worker sends at a
time is not bounded by arq's job slots, which stay free for background work, and a run
that waits for its channel's window holds nothing but a timer. `limit` bounds the runs of
one process (a setting); past it the job leaves the campaign to another worker, or to this
one once a run ends (the sweeper queues it again).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from jobs.runner_lock import RunnerLock, runner_key
from jobs.tasks import end_within

log = logging.getLogger(__name__)

# How long a job waits for a runner that is just stopping to let the campaign go.
ADOPT_WAIT_S = 2.0

Run = Callable[[RunnerLock], Awaitable[None]]


class RunSet:
    def __init__(self, redis: Redis, limit: int) -> None:
        self._redis = redis
        self.limit = limit
        self._runs: dict[int, asyncio.Task[None]] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._runs)

    def closed(self) -> bool:
        return self._closed

    async def adopt(self, campaign_id: int, run: Run) -> str:
        """Starts `run` for the campaign under its runner lock, unless it cannot be had
        here; says what happened (the job's result, for the log)."""
        if self.closed():
            return "the worker is stopping"
        if (running := self._runs.get(campaign_id)) is not None:
            # A run that is just ending (paused a moment ago, and now resumed) lets go
            # within that; a run still sending carries on with the campaign as it is now.
            await asyncio.wait([running], timeout=ADOPT_WAIT_S)
            if campaign_id in self._runs:
                return "already sending on this worker"
        if len(self._runs) >= self.limit:
            return f"this worker already sends {self.limit} campaigns"
        lock = RunnerLock(self._redis, runner_key(campaign_id))
        if not await lock.acquire(ADOPT_WAIT_S):
            return "another runner has the campaign"
        if self.closed():  # stopped while the lock was being taken
            await lock.release()
            return "the worker is stopping"
        task = asyncio.create_task(self._own(campaign_id, lock, run), name=f"run-{campaign_id}")
        self._runs[campaign_id] = task
        task.add_done_callback(lambda _: self._runs.pop(campaign_id, None))
        return "sending"

    async def _own(self, campaign_id: int, lock: RunnerLock, run: Run) -> None:
        renewing = asyncio.create_task(lock.keep())
        try:
            await run(lock)
        except Exception:
            log.exception("the run of campaign %s failed", campaign_id)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            with contextlib.suppress(Exception):
                await lock.release()  # lapses by itself within its TTL otherwise

    async def stop(self, grace_s: float) -> None:
        """Adopts nothing more and waits for the runs to end (they were asked to hand over
        after their batch); cancels those still running after `grace_s`."""
        self._closed = True
        await end_within(list(self._runs.values()), grace_s, "campaign run(s)")
