"""Background lanes: room per worker and per key, and periodic work that never overlaps
itself across workers (on a real Redis)."""

import asyncio

import pytest
from redis.asyncio import Redis

from jobs.lanes import Lane, alone
from tests.redis_process import redis_url

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent
__all__ = ["redis_url"]


def test_a_lane_holds_its_size_and_a_key_its_share() -> None:
    lane = Lane(size=3, per_key=2)
    with lane.enter("slow") as a, lane.enter("slow") as b, lane.enter("slow") as c:
        assert (a, b, c) == (True, True, False)  # the slow endpoint's share is full
        with lane.enter("other") as d, lane.enter("third") as e:
            assert (d, e) == (True, False)  # the lane is full
            assert lane.busy() == 3
    assert lane.busy() == 0
    with lane.enter("slow") as again:
        assert again


def test_a_place_is_given_back_when_the_work_fails() -> None:
    lane = Lane(size=1, per_key=1)

    def work() -> None:
        with lane.enter("k") as entered:
            assert entered
            raise RuntimeError("the provider answered nonsense")

    with pytest.raises(RuntimeError):
        work()
    assert lane.busy() == 0


async def test_periodic_work_runs_on_one_worker_at_a_time(redis_url: str) -> None:
    """Three 'workers' with their own connections take the same tick: one does the work;
    the next tick, after it ended, is free again."""
    clients = [Redis.from_url(redis_url) for _ in range(3)]
    running = 0
    most = 0
    done = 0

    async def tick(redis: Redis) -> None:
        nonlocal running, most, done
        async with alone(redis, "sweep-test") as mine:
            if not mine:
                return
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.2)
            running -= 1
            done += 1

    try:
        await asyncio.gather(*(tick(redis) for redis in clients))
        assert (most, done) == (1, 1)
        await asyncio.gather(*(tick(redis) for redis in clients))
        assert done == 2
    finally:
        for redis in clients:
            await redis.aclose()


async def test_work_longer_than_the_lock_keeps_it(redis_url: str) -> None:
    """The lane's lock is renewed while its work runs: a tick that comes meanwhile skips."""
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        async with alone(first, "catch-up-test", ttl_s=0.6) as mine:
            assert mine
            await asyncio.sleep(1.5)  # over twice the TTL: held only if it was renewed
            async with alone(second, "catch-up-test", ttl_s=0.6) as theirs:
                assert not theirs
        async with alone(second, "catch-up-test", ttl_s=0.6) as now_theirs:
            assert now_theirs
    finally:
        await first.aclose()
        await second.aclose()
