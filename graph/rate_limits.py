"""Per-account rate limits counted in Redis, so every API process shares one count.

A window starts with an account's first request and lasts `window_s` (Redis expires the
counter): no process clock is involved, and the refusal says when the window ends.
"""

from redis.asyncio import Redis

from db.errors import DomainError, ErrorCode

# Counts a request; answers the count so far and the seconds left in the window.
_TAKE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""

TEST_EMAILS_PER_MINUTE = 10


async def take(redis: Redis, what: str, account_id: int, limit: int, window_s: int) -> None:
    """Counts one request of `what`; RATE_LIMITED (nothing else changed) past `limit`."""
    key = f"clarion:rate:{what.replace(' ', '-')}:{account_id}"
    count, ttl = await redis.eval(_TAKE, 1, key, str(window_s))  # type: ignore[misc]
    if int(count) > limit:
        retry = max(int(ttl), 1)
        raise DomainError.one(
            ErrorCode.RATE_LIMITED,
            f"At most {limit} {what} per {window_s} seconds per account; "
            f"try again in {retry} seconds.",
        )
