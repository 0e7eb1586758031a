"""Pacing: the channel's rate limit, shared by every worker process through Redis, and the
spreading of a campaign over its execution window.

The rate limit is a promise that no second sees more than `rate_limit` messages. A token
bucket would allow twice that across a window boundary; instead every worker books its
batches in the channel's sliding window on Redis (a Lua script over a sorted set of the
batches' send times and sizes): a batch goes at the first time when the window ending then
holds room for it, never before a batch booked earlier. A paced batch is up to a second's
worth (one booking, one claim, one recording: a message costs the same paced or not) and
goes out at once at its time, so no window of `WINDOW_S` ever holds more than the limit.

The window is a little longer than a second (1.05 s by default). Right before it goes, a
batch confirms its place (`confirm`): late, it moves to now, and on while the batches
booked before it leave no room (one of them may have gone late); a batch whose last
message went out later than its start plus the margin moves its place on by as much
(`late`). Paced batches are kept small enough to go out well within the margin (BURST_S
of the server's measured pace), and several may share a window. So a second never holds
the end of one batch and the next one beyond the limit. A channel family whose path is
longer asks for a longer window (its transport's `pacing_window_s`). A channel's first
batch is booked on a tick of a tenth of the window, and those after it a window on: the
batches of many campaigns come due at the same moments and are claimed and recorded
together.
"""

import math
import secrets
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

WINDOW_S = 1.05
# A channel's first batch is booked on a tick of a tenth of its window, so the runs of a
# worker whose batches come due together claim and record them together
# (jobs/ledger_groups.py).
TICKS_PER_WINDOW = 10

# KEYS[1]: the channel's batches in the last window and to come (a sorted set: the score
# is a batch's send time in microseconds of Redis' clock, the member "<n>:<id>").
# ARGV[1]: the window (microseconds); ARGV[2]: messages allowed in a window; ARGV[3]: the
# batch's messages; ARGV[4]: its id; ARGV[5]: the tick (microseconds, a tenth of the
# window). A batch goes no earlier than the last one booked, at the first time when the
# window ending then has room, with as many messages as there is room for; on a channel
# with nothing booked, at the next tick. Returns the microseconds to wait before sending
# it and its messages.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local n = math.min(tonumber(ARGV[3]), limit)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
local booked = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local times, counts, sum, at = {}, {}, 0, now
for i = 1, #booked, 2 do
  local count = tonumber(string.match(booked[i], '^(%d+):'))
  local time = tonumber(booked[i + 1])
  times[#times + 1] = time
  counts[#counts + 1] = count
  sum = sum + count
  if time > at then at = time end
end
local first = 1
while true do
  while first <= #times and times[first] <= at - window do
    sum = sum - counts[first]
    first = first + 1
  end
  if limit - sum >= 1 then break end
  at = times[first] + window
end
n = math.min(n, limit - sum)
if at == now then
  local tick = tonumber(ARGV[5])
  at = math.ceil(at / tick) * tick
end
redis.call('ZADD', KEYS[1], string.format('%d', at), n .. ':' .. ARGV[4])
local keep_ms = math.ceil((at + window - now) / 1000) + 1000
redis.call('PEXPIRE', KEYS[1], string.format('%d', keep_ms))
return {at - now, n}
"""
# KEYS[1]: as above; ARGV[1]: the batch's member; ARGV[2]: the window (microseconds);
# ARGV[3]: messages allowed in a window. The batch is about to go: its place moves to now
# if it is late, and on until the window ending there has room for it besides the batches
# booked before it (one of which may have gone late since this one was booked). Returns
# the microseconds it must still wait.
_CONFIRM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not mine then return 0 end
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local count = tonumber(string.match(ARGV[1], '^(%d+):'))
local function others(at)
  local found = redis.call(
    'ZRANGEBYSCORE', KEYS[1], string.format('(%d', at - window), string.format('%d', at),
    'WITHSCORES')
  local sum, earliest = 0, nil
  for i = 1, #found, 2 do
    if found[i] ~= ARGV[1] then
      sum = sum + tonumber(string.match(found[i], '^(%d+):'))
      if not earliest then earliest = tonumber(found[i + 1]) end
    end
  end
  return sum, earliest
end
local at = math.max(tonumber(mine), now)
local sum, earliest = others(at)
local moves = 0
while sum + count > limit and earliest and moves < 1000 do
  at = earliest + window
  sum, earliest = others(at)
  moves = moves + 1
end
if at ~= tonumber(mine) then
  redis.call('ZADD', KEYS[1], string.format('%d', at), ARGV[1])
  local keep_ms = math.ceil((at + window - now) / 1000) + 1000
  redis.call('PEXPIRE', KEYS[1], string.format('%d', keep_ms))
end
return at - now
"""
# KEYS[1]: as above; ARGV[1]: the batch's member; ARGV[2]: microseconds to move it on by,
# ARGV[3]: the messages it really holds ("" to leave its count alone).
_AMEND = """
local time = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not time then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
local count = ARGV[3]
if count == '' then count = string.match(ARGV[1], '^(%d+):') end
if tonumber(count) > 0 then
  local id = string.match(ARGV[1], ':(.*)$')
  local moved = string.format('%d', tonumber(time) + tonumber(ARGV[2]))
  redis.call('ZADD', KEYS[1], moved, count .. ':' .. id)
end
return 1
"""


@dataclass(frozen=True)
class Turn:
    """A batch's place in its channel's window: wait `wait_s`, then send `units`."""

    channel_key: str
    member: str
    wait_s: float
    units: int


class ChannelPacer:
    """The shared per-channel sliding windows."""

    def __init__(self, redis: Redis) -> None:
        self._reserve = redis.register_script(_RESERVE)
        self._amend = redis.register_script(_AMEND)
        self._confirm = redis.register_script(_CONFIRM)

    async def reserve(
        self, channel_key: str, rate_limit: int, n: int, window_s: float = WINDOW_S
    ) -> Turn:
        """Books a batch of up to `n` units (messages; an SMS's segments; at most
        `rate_limit`) on the channel, `rate_limit` per `window_s`, at the first time with
        room: says how long to wait before sending, and how many units it may send then."""
        n = max(1, min(n, rate_limit))
        batch_id = secrets.token_hex(6)
        window_us = _window_us(window_s)
        wait_us, units = await self._reserve(
            keys=[_key(channel_key)],
            args=[window_us, rate_limit, n, batch_id, window_us // TICKS_PER_WINDOW],
        )
        wait_s = max(0, int(wait_us)) / 1_000_000
        return Turn(channel_key, f"{int(units)}:{batch_id}", wait_s, int(units))

    async def confirm(self, turn: Turn, rate_limit: int, window_s: float = WINDOW_S) -> float:
        """The batch is about to go: its place in the window moves to now if it is late,
        and on while the batches before it leave no room (one of them went late since);
        returns the seconds it must still wait (0 almost always)."""
        wait_us = await self._confirm(
            keys=[_key(turn.channel_key)],
            args=[turn.member, _window_us(window_s), rate_limit],
        )
        return max(0, int(wait_us)) / 1_000_000

    async def late(self, turn: Turn, seconds: float) -> None:
        """The batch went out `seconds` later than it could: its place in the window moves
        on by as much, so the batches after it still keep their distance from it."""
        await self._amend(
            keys=[_key(turn.channel_key)], args=[turn.member, math.ceil(seconds * 1e6), ""]
        )

    async def shrink(self, turn: Turn, units: int) -> None:
        """The batch holds only `units` (0: it sends nothing): the rest of its room goes
        back to the channel's other batches."""
        await self._amend(keys=[_key(turn.channel_key)], args=[turn.member, 0, max(units, 0)])


def _key(channel_key: str) -> str:
    return f"clarion:pace:{channel_key}"


def _window_us(window_s: float) -> int:
    """The window in microseconds, a whole number of ticks."""
    return math.ceil(window_s * 1_000_000) // TICKS_PER_WINDOW * TICKS_PER_WINDOW


BATCH_MAX = 500
# A batch holds at most this long's worth of what the server has been taking, so a pause
# or cancel (checked between batches) takes effect within a second on any server.
BATCH_SECONDS = 0.5
# A paced batch holds at most this long's worth of the rate limit (one booking, one claim
# and one recording for all of it: a message costs the same paced or not), and goes out
# within this long at the server's measured pace.
PACED_BATCH_S = 1.0
BURST_S = 0.03
FIRST_BATCH = 50
# A paced batch before the server's pace is known.
FIRST_PACED_BATCH = 10


# A batch's size is rounded down to one of these leading two digits (times a power of ten;
# below 10, exact): less than a quarter smaller, and 27 sizes in 1..BATCH_MAX. Statements
# shaped by a batch's size (recording a CASE of provider ids per row) are compiled and kept
# in SQLAlchemy's statement cache once per size; sizes that followed the measured
# throughput to the message filled that cache over a long campaign (~1 MiB an entry at
# 500 rows, up to 500 entries): the worker's memory grew with the campaign's length.
SIZE_STEPS = (10, 12, 15, 20, 25, 30, 40, 50, 60, 80)


def batch_size(rate: float | None, throughput: float | None) -> int:
    """Messages to claim and send together; rounded down to a step (SIZE_STEPS).

    Unpaced (`rate` None): BATCH_SECONDS of the measured `throughput` (messages per second;
    None before the first batch). Paced: PACED_BATCH_S of `rate`, and no more than the
    server takes in BURST_S."""
    if rate is None:
        by_rate = BATCH_MAX
        by_server = FIRST_BATCH if throughput is None else int(throughput * BATCH_SECONDS)
    else:
        by_rate = int(rate * PACED_BATCH_S)
        by_server = FIRST_PACED_BATCH if throughput is None else int(throughput * BURST_S)
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


def effective_rate(rate_limit: float | None, spread: float | None) -> float | None:
    candidates = [r for r in (rate_limit, spread) if r is not None]
    return min(candidates) if candidates else None
