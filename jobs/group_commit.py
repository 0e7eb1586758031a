"""Group commit: the items of concurrent callers handled together, each caller answered
when its group is done.

A webhook that must not answer before its event is durable (queued on Redis, or applied in
the database) would otherwise pay a round trip, a system call and, on SQLite, a
transaction of its own. Here one task handles whatever gathered while the previous group
was being handled: a quiet process handles each item at once, a busy one many per round
trip. A caller whose group failed gets the group's exception; one that went away (its
request cancelled) is simply not answered."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from jobs.tasks import cancel_and_wait

T = TypeVar("T")

_Waiter = tuple[T, asyncio.Future[None]]


class GroupCommit(Generic[T]):
    def __init__(
        self, handle: Callable[[list[T]], Awaitable[None]], max_group: int, gather_s: float = 0.0
    ) -> None:
        self._handle = handle
        self._max_group = max_group
        # How long a group waits for more items before it is handled (0: not at all).
        self._gather_s = gather_s
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Returns once `item`'s group is handled; raises what handling it raised."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, waiter))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        await waiter

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        for _, waiter in self._pending:
            if not waiter.done():
                waiter.set_exception(RuntimeError("shutting down"))
        self._pending.clear()

    async def _run(self) -> None:
        if self._gather_s:
            await asyncio.sleep(self._gather_s)
        while self._pending:
            group = self._pending[: self._max_group]
            del self._pending[: self._max_group]
            try:
                await self._handle([item for item, _ in group])
            except asyncio.CancelledError:  # stopped mid-group: its callers hear it too
                for _, waiter in group:
                    if not waiter.done():
                        waiter.set_exception(RuntimeError("shutting down"))
                raise
            except Exception as exc:
                for _, waiter in group:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for _, waiter in group:
                if not waiter.done():
                    waiter.set_result(None)
