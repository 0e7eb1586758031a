"""Pacing: the pure arithmetic by tables, and the shared slot reservations on a real Redis,
from several clients at once, checked for the rate limit's promise (no second above it)."""

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from jobs.pacing import (
    BATCH_MAX,
    BATCH_SECONDS,
    TICKS_PER_WINDOW,
    WINDOW_S,
    ChannelPacer,
    batch_size,
    effective_rate,
    spread_rate,
    spread_slot,
)
from tests.redis_process import redis_url
from tests.smtp_sink import max_in_window

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent
__all__ = ["redis_url"]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rate", "throughput", "expected"),
    [
        (None, None, 50),  # the first batch, before the server's pace is known
        (None, 3000.0, 500),
        (None, 40.0, 20),  # a slow server: half a second's worth
        (None, 0.5, 1),
        # Paced: a second's worth at the rate, no more than the server takes in BURST_S.
        (1, 3000.0, 1),
        (10, None, 10),  # the first paced batch
        (49, 3000.0, 40),
        (100, 3000.0, 80),
        (100, 40.0, 1),
        (1000, 30_000.0, 500),
        (10_000, 1000.0, 30),
        # Rounded down to a step: two leading digits from SIZE_STEPS.
        (None, 18.0, 9),
        (None, 22.0, 10),
        (None, 998.0, 400),
        (None, 130.0, 60),
        (None, 250.0, 120),
    ],
)
def test_batch_size(rate: float | None, throughput: float | None, expected: int) -> None:
    assert batch_size(rate, throughput) == expected


def test_batch_sizes_are_few_and_less_than_a_quarter_smaller() -> None:
    sizes = {batch_size(None, t / 10) for t in range(1, 20_000)}
    assert len(sizes) == 27
    assert max(sizes) == BATCH_MAX
    for wanted in range(1, BATCH_MAX + 1):
        got = batch_size(None, wanted / BATCH_SECONDS)
        assert got <= wanted
        assert got > 0.75 * wanted, (wanted, got)


@pytest.mark.parametrize(
    ("left", "seconds", "expected"),
    [(300, 60, 5.0), (1, 10, 0.1), (0, 60, None), (10, 0, None), (10, -5, None)],
)
def test_spread_rate(left: int, seconds: float, expected: float | None) -> None:
    assert spread_rate(left, NOW + timedelta(seconds=seconds), NOW) == expected
    assert spread_rate(left, None, NOW) is None


@pytest.mark.parametrize(
    ("left", "n", "seconds", "expected"),
    [(300, 1, 60, 0.2), (1, 1, 7, 7.0), (10, 5, 10, 5.0), (10, 1, -1, None), (0, 1, 5, None)],
)
def test_spread_slot(left: int, n: int, seconds: float, expected: float | None) -> None:
    slot = spread_slot(NOW, left, n, NOW + timedelta(seconds=seconds))
    assert slot == (None if expected is None else NOW + timedelta(seconds=expected))
    assert spread_slot(NOW, left, n, None) is None


def test_spread_slots_end_at_the_deadline_however_long_sending_takes() -> None:
    """Slots count from the previous slot: 300 sends over a minute, each taking 50 ms to
    send, still come due evenly and the last at the deadline."""
    deadline, previous, left, slots = NOW + timedelta(seconds=60), NOW, 300, []
    while (slot := spread_slot(previous, left, 1, deadline)) is not None and left:
        slots.append((slot - NOW).total_seconds())
        previous, left = slot, left - 1
    assert len(slots) == 300
    assert slots[-1] == pytest.approx(60)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *slots])]
    assert max(gaps) == pytest.approx(min(gaps)) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("limit", "spread", "expected"),
    [(None, None, None), (10, None, 10), (None, 2.5, 2.5), (10, 2.5, 2.5), (1, 2.5, 1)],
)
def test_effective_rate(limit: int | None, spread: float | None, expected: float | None) -> None:
    assert effective_rate(limit, spread) == expected


TICK = WINDOW_S / TICKS_PER_WINDOW


def first_tick(wait: float) -> bool:
    """A channel's first booking goes at the next tick."""
    return 0 <= wait < TICK + 0.02


async def test_batches_of_a_window_go_a_window_apart_on_ticks(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        pacer = ChannelPacer(redis)
        waits = [(await pacer.reserve("email:1", 10, 10)).wait_s for _ in range(3)]
        # A batch over the limit is booked as the limit: the window never holds more.
        over = await pacer.reserve("email:1", 10, 25)
    finally:
        await redis.aclose()
    assert first_tick(waits[0])
    for i, wait in enumerate(waits):
        assert wait - waits[0] == pytest.approx(i * WINDOW_S, abs=0.02)
    assert over.wait_s - waits[0] == pytest.approx(3 * WINDOW_S, abs=0.02)
    assert over.member.startswith("10:")


async def test_small_batches_fill_the_window_then_wait_for_room(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        pacer = ChannelPacer(redis)
        waits = [await pacer.reserve("email:5", 10, 3) for _ in range(5)]
    finally:
        await redis.aclose()
    # 3 + 3 + 3 fit the first window, and 1 of the fourth's; the fifth waits until the
    # first leaves it.
    assert first_tick(waits[0].wait_s)
    relative = [turn.wait_s - waits[0].wait_s for turn in waits]
    assert relative == pytest.approx([0, 0, 0, 0, WINDOW_S], abs=0.02)
    assert [turn.units for turn in waits] == [3, 3, 3, 1, 3]


async def test_a_late_batch_moves_its_place_and_a_short_one_gives_room_back(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        pacer = ChannelPacer(redis)
        first = await pacer.reserve("email:6", 10, 10)
        await pacer.late(first, 0.5)
        # Moved on by 0.5 s, then a window on, on the next tick.
        after = (await pacer.reserve("email:6", 10, 1)).wait_s - first.wait_s
        assert WINDOW_S + 0.5 - 0.02 <= after <= WINDOW_S + 0.5 + TICK + 0.02
        short = await pacer.reserve("email:7", 10, 10)
        await pacer.shrink(short, 4)
        rest = await pacer.reserve("email:7", 10, 6)
        assert rest.wait_s - short.wait_s == pytest.approx(0, abs=0.02)
        full = await pacer.reserve("email:7", 10, 1)
        assert full.wait_s - short.wait_s == pytest.approx(WINDOW_S, abs=0.02)
        unused = await pacer.reserve("email:8", 10, 10)
        await pacer.shrink(unused, 0)
        again = await pacer.reserve("email:8", 10, 10)
        assert again.wait_s - unused.wait_s == pytest.approx(0, abs=0.02)
    finally:
        await redis.aclose()


async def test_shared_budget_never_exceeds_the_limit_in_any_second(redis_url: str) -> None:
    """Three 'workers' with their own connections book batches of random size for 3 s of
    traffic at 40/s; the send times they are given never put more than 40 in a second."""
    rng = random.Random(7)
    clients = [Redis.from_url(redis_url) for _ in range(3)]
    loop = asyncio.get_running_loop()
    planned: list[float] = []

    async def worker(redis: Redis) -> None:
        pacer = ChannelPacer(redis)
        for _ in range(20):
            n = rng.choice([1, 2, 5, 8])
            turn = await pacer.reserve("email:2", 40, n)
            planned.extend([loop.time() + turn.wait_s] * turn.units)
            await asyncio.sleep(rng.random() * 0.01)

    try:
        await asyncio.gather(*(worker(r) for r in clients))
    finally:
        for redis in clients:
            await redis.aclose()
    assert len(planned) >= 100
    assert max_in_window(sorted(planned), 1.0) <= 40
    # ... and it is not over-cautious: each window but the last is nearly full.
    span = max(planned) - min(planned)
    windows = len(planned) / 40
    assert (windows - 2) * WINDOW_S <= span <= (windows + 1) * WINDOW_S


async def test_channels_do_not_share_a_budget(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        pacer = ChannelPacer(redis)
        first = await pacer.reserve("email:3", 1, 1)
        second = await pacer.reserve("email:3", 1, 1)
        assert second.wait_s - first.wait_s == pytest.approx(WINDOW_S, abs=0.02)
        assert first_tick((await pacer.reserve("email:4", 1, 1)).wait_s)
    finally:
        await redis.aclose()


async def test_a_batch_confirms_its_place_after_an_earlier_one_went_late(redis_url: str) -> None:
    """Two runs book a window each; the first goes out 0.3 s late (confirming moves it):
    the second, confirming at its time, waits until a window after the first's real time."""
    redis = Redis.from_url(redis_url)
    try:
        pacer = ChannelPacer(redis)
        first = await pacer.reserve("email:9", 10, 10)
        second = await pacer.reserve("email:9", 10, 10)
        assert second.wait_s - first.wait_s == pytest.approx(WINDOW_S, abs=0.02)
        await asyncio.sleep(first.wait_s + 0.3)
        assert await pacer.confirm(first, 10) == 0  # late: it goes now, from now
        await asyncio.sleep(max(second.wait_s - first.wait_s - 0.3, 0))
        extra = await pacer.confirm(second, 10)
        assert extra == pytest.approx(0.3, abs=0.05)
        assert await pacer.confirm(second, 10) == pytest.approx(extra, abs=0.02)  # settled
    finally:
        await redis.aclose()


@pytest.mark.parametrize("late_s", [0.123457, 0.123451, 0.000011, 0.987659])
async def test_times_to_the_microsecond_are_kept_exactly(redis_url: str, late_s: float) -> None:
    """Send times are microseconds since the epoch (16 digits): written to Redis as
    integers, not as Lua's 14-digit numbers, so a batch moved on by any number of
    microseconds still leaves the window where it should (a rounded bound kept counting it:
    the confirmation looped for ever)."""
    redis = Redis.from_url(redis_url)
    try:
        pacer = ChannelPacer(redis)
        key = f"email:late-{late_s}"
        first = await pacer.reserve(key, 10, 10)
        second = await pacer.reserve(key, 10, 10)
        await pacer.late(first, late_s)
        wait = await asyncio.wait_for(pacer.confirm(second, 10), 2)
        assert wait == pytest.approx(second.wait_s + late_s, abs=0.05)
        (_, moved), (_, placed) = await redis.zrange(f"clarion:pace:{key}", 0, -1, withscores=True)
        assert placed - moved == WINDOW_S * 1_000_000
    finally:
        await redis.aclose()
