"""Pacing: the channel's rate limit, shared by every worker process through Redis, and the
spreading of a campaign over its execution window.

The rate limit is a promise that no second sees more than `rate_limit` messages. A token
bucket would allow twice that across a window boundary, so slots are handed out evenly
spaced (GCRA without burst): a Lua script keeps the channel's next free slot and gives a
caller `n` consecutive slots `WINDOW_S / rate` apart, telling it how long to wait for the
first. The window is a little longer than a second (1.1 s by default), to absorb up to
100 ms of jitter between when a worker means to send and when the server sees it (a busy
event loop, the SMTP transaction itself); a channel family whose path is longer asks for a
longer one (its transport's `pacing_window_s`). Chunks are small (a fiftieth of the rate)
for the same reason.
"""

import math
from datetime import datetime

from redis.asyncio import Redis

WINDOW_S = 1.1
CHUNK_FRACTION = 0.02

# KEYS[1]: the channel's next free slot (microseconds, Redis clock).
# ARGV[1]: microseconds per message; ARGV[2]: messages wanted.
# Returns microseconds to wait before sending them.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local after = slot + tonumber(ARGV[1]) * tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.ceil((after - now) / 1000) + 1000)
return slot - now
"""


class ChannelPacer:
    """The shared per-channel slot reservations."""

    def __init__(self, redis: Redis) -> None:
        self._reserve = redis.register_script(_RESERVE)

    async def reserve(
        self, channel_key: str, rate_limit: int, n: int, window_s: float = WINDOW_S
    ) -> float:
        """Reserves `n` units (messages; an SMS's segments) on the channel, `rate_limit`
        per `window_s`; returns the seconds to wait before sending."""
        interval_us = math.ceil(window_s * 1_000_000 / rate_limit)
        wait_us = await self._reserve(keys=[f"clarion:pace:{channel_key}"], args=[interval_us, n])
        return max(0, int(wait_us)) / 1_000_000


BATCH_MAX = 500
# A batch holds at most this long's worth of what the server has been taking, so a pause
# or cancel (checked between batches) takes effect within a second on any server.
BATCH_SECONDS = 0.5
FIRST_BATCH = 50


# A batch's size is rounded down to one of these leading two digits (times a power of ten;
# below 10, exact): less than a quarter smaller, and 27 sizes in 1..BATCH_MAX. Statements
# shaped by a batch's size (recording a CASE of provider ids per row) are compiled and kept
# in SQLAlchemy's statement cache once per size; sizes that followed the measured
# throughput to the message filled that cache over a long campaign (~1 MiB an entry at
# 500 rows, up to 500 entries): the worker's memory grew with the campaign's length.
SIZE_STEPS = (10, 12, 15, 20, 25, 30, 40, 50, 60, 80)


def batch_size(rate: float | None, throughput: float | None) -> int:
    """Messages to claim and send together: a fiftieth of a second's worth at `rate` (None:
    unlimited), and no more than BATCH_SECONDS of the measured `throughput` (messages per
    second; None before the first batch); rounded down to a step (SIZE_STEPS)."""
    by_rate = BATCH_MAX if rate is None else int(rate * CHUNK_FRACTION)
    by_server = FIRST_BATCH if throughput is None else int(throughput * BATCH_SECONDS)
    return _step_down(max(1, min(by_rate, by_server, BATCH_MAX)))


def _step_down(n: int) -> int:
    if n < SIZE_STEPS[0]:
        return n
    scale: int = 10 ** (len(str(n)) - 2)
    lead = n // scale  # n's first two digits
    return max(step for step in SIZE_STEPS if step <= lead) * scale


def spread_rate(left: int, deadline: datetime | None, now: datetime) -> float | None:
    """Messages per second that make the last of `left` go out at `deadline`.

    None when there is no deadline or it has passed (then: as fast as the channel allows).
    """
    if deadline is None or left <= 0:
        return None
    seconds = (deadline - now).total_seconds()
    return left / seconds if seconds > 0 else None


def spread_slot(
    previous: datetime, left: int, n: int, deadline: datetime | None
) -> datetime | None:
    """When the next `n` of `left` are due so that sends end evenly at `deadline`: the
    chunk's share of the time from `previous` (when the last chunk was due) to the deadline.

    Counting from when the last chunk was due, not from when it was sent, keeps the time
    spent sending from piling up and crowding the end; a run that falls behind catches up
    by sending at once. None: no deadline, or it has passed (as fast as allowed).
    """
    if deadline is None or left <= 0 or deadline <= previous:
        return None
    return previous + (deadline - previous) * (n / left)


def effective_rate(rate_limit: int | None, spread: float | None) -> float | None:
    candidates = [r for r in (rate_limit, spread) if r is not None]
    return min(candidates) if candidates else None
