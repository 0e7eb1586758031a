"""Stopping a background task."""

import asyncio
import logging
from collections.abc import Collection
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancels `task` and returns once it has ended. What it raised is logged, not
    raised; a cancellation of the caller itself still reaches the caller."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s ended with an error", task.get_name(), exc_info=task.exception())


async def end_within(tasks: Collection["asyncio.Future[Any]"], grace_s: float, what: str) -> None:
    """Waits for `tasks` to end; cancels those still running after `grace_s` (logged as
    `what`, e.g. "job(s)") and waits for them too."""
    running = [task for task in tasks if not task.done()]
    if not running:
        return
    _, late = await asyncio.wait(running, timeout=grace_s)
    if late:
        log.warning("%d %s still running after %.0fs; cancelling", len(late), what, grace_s)
        for task in late:
            task.cancel()
        await asyncio.wait(late)
