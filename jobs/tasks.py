"""Stopping a background task."""

import asyncio
import logging
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
