"""jobs/tasks.py: stopping a background task waits for it to end, whatever it raised,
and never swallows a cancellation of the caller itself."""

import asyncio
import logging

import pytest

from jobs.tasks import cancel_and_wait

pytestmark = pytest.mark.database_independent


async def test_the_task_has_ended_when_it_returns() -> None:
    cleaned_up = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # shutting down takes a moment
            cleaned_up.set()

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()
    assert cleaned_up.is_set()
    await cancel_and_wait(None)


async def test_what_the_task_raised_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(broken(), name="broken-task")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="jobs.tasks"):
        await cancel_and_wait(task)
    assert "broken-task ended with an error" in caplog.text
    assert "boom" in caplog.text


async def test_a_cancelled_caller_is_still_cancelled() -> None:
    stubborn_done = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await stubborn_done.wait()  # takes its time to end
            raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    caller = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    stubborn_done.set()
    await asyncio.wait([task])
