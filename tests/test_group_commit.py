"""jobs/group_commit.py: the items of concurrent callers handled together, each caller
answered when its group is done (pure asyncio: no server)."""

import asyncio

import pytest

from jobs.group_commit import GroupCommit

pytestmark = pytest.mark.database_independent


class Recorder:
    """A handler that takes a while, records its groups and fails those holding "bad"."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = asyncio.Event()

    async def handle(self, items: list[str]) -> None:
        self.groups.append(items)
        await self.release.wait()
        if "bad" in items:
            raise ValueError("bad item")


async def test_items_that_arrive_while_a_group_is_handled_go_together_next() -> None:
    recorder = Recorder()
    commits = GroupCommit(recorder.handle, max_group=100)
    first = asyncio.create_task(commits.submit("a"))
    await asyncio.sleep(0)  # "a" alone: nothing else was waiting
    rest = [asyncio.create_task(commits.submit(x)) for x in "bcd"]
    await asyncio.sleep(0)
    assert recorder.groups == [["a"]]
    assert not first.done()  # answered only when its group is handled
    recorder.release.set()
    await asyncio.gather(first, *rest)
    assert recorder.groups == [["a"], ["b", "c", "d"]]


async def test_groups_are_cut_at_max_group() -> None:
    recorder = Recorder()
    recorder.release.set()
    commits = GroupCommit(recorder.handle, max_group=2)
    await asyncio.gather(*(commits.submit(str(i)) for i in range(5)))
    assert recorder.groups == [["0", "1"], ["2", "3"], ["4"]]


async def test_a_failed_group_fails_its_callers_only() -> None:
    recorder = Recorder()
    commits = GroupCommit(recorder.handle, max_group=100)
    first = asyncio.create_task(commits.submit("a"))
    await asyncio.sleep(0)
    failing = [asyncio.create_task(commits.submit(x)) for x in ("b", "bad")]
    await asyncio.sleep(0)
    recorder.release.set()
    await first
    for task in failing:
        with pytest.raises(ValueError, match="bad item"):
            await task
    await asyncio.wait_for(commits.submit("c"), 1)  # the next group goes on


async def test_a_caller_that_went_away_does_not_stop_its_group() -> None:
    recorder = Recorder()
    commits = GroupCommit(recorder.handle, max_group=100)
    first = asyncio.create_task(commits.submit("a"))
    await asyncio.sleep(0)
    gone = asyncio.create_task(commits.submit("b"))
    stays = asyncio.create_task(commits.submit("c"))
    await asyncio.sleep(0)
    gone.cancel()
    recorder.release.set()
    await asyncio.gather(first, stays)
    assert gone.cancelled()
    assert recorder.groups == [["a"], ["b", "c"]]


async def test_stop_fails_the_callers_still_waiting() -> None:
    recorder = Recorder()
    commits = GroupCommit(recorder.handle, max_group=100)
    waiting = [asyncio.create_task(commits.submit(x)) for x in "ab"]
    await asyncio.sleep(0)
    await commits.stop()
    for task in waiting:
        with pytest.raises(RuntimeError, match="shutting down"):
            await task
