"""The arq worker: standalone (`clarion worker`) or inside `clarion serve` (embedded)."""

from collections.abc import Callable
from typing import Any

from arq.connections import ArqRedis
from arq.worker import Worker

from db.engine import Database

# The jobs this worker performs; the send pipeline registers itself here.
JOBS: list[Callable[..., Any]] = []
# Keep job timeouts short: arq's in-progress lock lives as long as the longest timeout.
JOB_TIMEOUT_S = 120


def build_worker(redis: ArqRedis, db: Database, *, embedded: bool) -> Worker | None:
    """An arq worker sharing `redis` and `db`, or None while no job is registered."""
    if not JOBS:
        return None
    return Worker(
        functions=JOBS,
        redis_pool=redis,
        ctx={"db": db},
        handle_signals=not embedded,
        job_timeout=JOB_TIMEOUT_S,
        # A kept result would block re-enqueueing the same job id (e.g. after a resume).
        keep_result=0,
        max_jobs=10,
    )
