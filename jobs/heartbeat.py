"""The sweeper's heartbeat: when it last completed a tick, on Redis' clock (one clock for
every process). A worker that has stopped working, or cannot reach Redis or the database,
stops ticking, and /health (graph/health.py), in any API process, says so."""

from dataclasses import dataclass

from redis.asyncio import Redis

KEY = "clarion:sweeper:last-tick"


async def record_tick(redis: Redis) -> None:
    seconds, micros = await redis.time()
    await redis.set(KEY, f"{seconds}.{micros:06d}")


@dataclass(frozen=True)
class Since:
    seconds: float
    # False: no tick recorded since Redis started (empty); `seconds` is its uptime.
    ticked: bool


async def since_last_tick(redis: Redis) -> Since:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(KEY)
        pipe.time()
        last, (seconds, micros) = await pipe.execute()
    if last is None:
        info = await redis.info("server")
        return Since(float(info["uptime_in_seconds"]), ticked=False)
    return Since(max(seconds + micros / 1e6 - float(last), 0.0), ticked=True)
