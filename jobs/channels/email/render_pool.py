"""Rendering outside the event loop, within a budget: a few render processes
(jobs/channels/email/render_child.py) that the parent kills when a message takes too long.

`RenderPool.render` sends one batch of contexts to an idle child and awaits its compile
within COMPILE_SECONDS, then each message's result within SECONDS_PER_MESSAGE. A child
that misses it, or dies (its memory or CPU limit), is killed and replaced, and the
message is over budget; the rest of the batch is not rendered. A template over budget
ends the batch: one such message means the template is at fault.
"""

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from jobs.channels.email.render import (
    COMPILE_SECONDS,
    SECONDS_PER_MESSAGE,
    Rendered,
    TemplateSource,
)
from jobs.channels.email.render_child import HEADER_SIZE, encode, frame_size

log = logging.getLogger(__name__)

# Render processes a worker keeps (campaigns rendering at once; more wait their turn).
WORKER_RENDER_PROCESSES = 2
# The API's, for trial renders when a template is saved (one per field at once).
API_RENDER_PROCESSES = 2
# A child's start (imports) is not part of any message's budget.
START_TIMEOUT_S = 30.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding `jobs`


@dataclass(frozen=True)
class RenderError:
    """The template failed for this contact (e.g. an undefined attribute): this message
    fails, others may not."""

    reason: str


@dataclass(frozen=True)
class OverBudget:
    """The template is over the render budget: no message of it may be sent."""

    reason: str


Result = Rendered | RenderError | OverBudget


class _Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> "_Child":
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "jobs.channels.email.render_child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_PACKAGE_ROOT,
        )
        child = cls(process)
        try:
            ready = await asyncio.wait_for(child.read(), START_TIMEOUT_S)
        except BaseException:
            await child.kill()
            raise
        if ready != {"ready": True}:
            await child.kill()
            raise RuntimeError(f"render process said {ready!r}")
        return child

    async def send(self, batch: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(encode(batch))
        await self.process.stdin.drain()

    async def read(self) -> Any:
        assert self.process.stdout is not None
        head = await self.process.stdout.readexactly(HEADER_SIZE)
        return json.loads(await self.process.stdout.readexactly(frame_size(head)))

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


class RenderPool:
    """Up to `size` render processes, started when first needed."""

    def __init__(self, size: int) -> None:
        self._idle: asyncio.Queue[_Child | None] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(None)  # a slot whose child is not started yet
        self._all: set[_Child] = set()
        self._closed = False

    async def render(
        self, source: TemplateSource, contexts: Sequence[Mapping[str, Any]]
    ) -> list[Result]:
        """One result per context, in order; fewer when the last is OverBudget, or when the
        batch's output reached MAX_BATCH_OUTPUT (the rest was not rendered: render it in
        another batch)."""
        if not contexts:
            return []
        if self._closed:
            raise RuntimeError("the render pool is closed")
        child = await self._idle.get()
        healthy = False
        batch = {"source": astuple(source), "contexts": list(contexts)}
        try:
            if child is not None and _gone(child.process.pid, child.process.returncode):
                self._all.discard(child)
                child = None
            if child is None:
                child = await self._start()
            try:
                await child.send(batch)
            except (BrokenPipeError, ConnectionResetError):  # died idle: not this batch's fault
                self._all.discard(child)
                await child.kill()
                child = await self._start()
                await child.send(batch)
            results, healthy = await self._results(child, len(contexts))
            return results
        finally:
            # Timed out, died, cancelled, or the pool closed meanwhile: it goes.
            if child is not None and (not healthy or self._closed):
                self._all.discard(child)
                await asyncio.shield(child.kill())
                child = None
            self._idle.put_nowait(child)

    async def _start(self) -> _Child:
        child = await _Child.start()
        self._all.add(child)
        return child

    async def _results(self, child: _Child, expected: int) -> tuple[list[Result], bool]:
        """A batch's results, and whether the child is fit for another batch."""
        out: list[Result] = []
        budget, slow = COMPILE_SECONDS, f"it took longer than {COMPILE_SECONDS:g} s to compile"
        while len(out) < expected:
            try:
                async with asyncio.timeout(budget):
                    answer = await child.read()
            except TimeoutError:
                out.append(OverBudget(slow))
                return out, False
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                code = await asyncio.shield(child.process.wait())
                log.warning("render process ended (%s) in a batch", code)
                out.append(OverBudget("its render process ran out of CPU time or memory"))
                return out, False
            budget = SECONDS_PER_MESSAGE
            slow = f"a message took longer than {SECONDS_PER_MESSAGE:g} s to render"
            if "ok" in answer:
                out.append(Rendered(*answer["ok"]))
            elif "error" in answer:
                out.append(RenderError(answer["error"]))
            elif "over" in answer:
                out.append(OverBudget(answer["over"]))
                # The child has the rest of the batch to go: start afresh.
                return out, len(out) == expected
            elif "full" in answer:
                return out, True
        return out, True

    def pids(self) -> list[int]:
        """The render processes' ids (for operators and tests)."""
        return sorted(child.process.pid for child in self._all)

    async def close(self) -> None:
        """Ends the idle processes; a busy one ends when its batch is done."""
        self._closed = True
        children: list[_Child] = []
        while not self._idle.empty():
            if (child := self._idle.get_nowait()) is not None:
                children.append(child)
                self._all.discard(child)
        for child in children:
            assert child.process.stdin is not None
            child.process.stdin.close()  # end of input: it exits
        for child in children:
            try:
                await asyncio.wait_for(child.process.wait(), 2.0)
            except TimeoutError:
                await child.kill()


def budget_text(reason: str) -> str:
    """The user's explanation of an OverBudget reason."""
    return f"The template is over the render budget: {reason}."


def _gone(pid: int, returncode: int | None) -> bool:
    """Whether an idle child died: its exit seen by asyncio, or already reaped by the child
    watcher whose report has not reached the loop yet (the pid no longer exists)."""
    if returncode is not None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
