"""One runner at a time across all workers: a Redis lock with a short TTL, renewed while
the runner works. A campaign's run holds one (`runner_key`): a killed runner's lock lapses
within `TTL_S`, and the sweeper then queues the campaign again. Two runners could not send
a contact twice anyway (the ledger's claims see to that), but one runner keeps a
campaign's spreading and progress estimates coherent. A background lane's work holds one
too (jobs/lanes.py), so it never overlaps itself on any worker.
"""

import asyncio
import os
import secrets

from redis.asyncio import Redis
from redis.exceptions import RedisError

TTL_S = 10.0
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def runner_key(campaign_id: int) -> str:
    return f"clarion:runner:{campaign_id}"


class RunnerLock:
    def __init__(self, redis: Redis, key: str, ttl_s: float = TTL_S) -> None:
        self._redis = redis
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._key = key
        self._ttl_ms = int(ttl_s * 1000)
        # The holder's process id first: an operator (or a test) sees which process runs it.
        self._token = f"{os.getpid()}-{secrets.token_hex(6)}"
        self.held = False

    async def acquire(self, wait_s: float) -> bool:
        """Tries for up to `wait_s` (a runner that is just stopping lets go within that)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait_s
        while True:
            if await self._redis.set(self._key, self._token, nx=True, px=self._ttl_ms):
                self.held = True
                return True
            if loop.time() >= give_up:
                return False
            await asyncio.sleep(0.1)

    async def keep(self) -> None:
        """Renews the lock until cancelled; `held` turns False if it was lost."""
        while self.held:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                renewed = await self._renew(keys=[self._key], args=[self._token, self._ttl_ms])
            except (RedisError, OSError):
                renewed = 0  # cannot tell whether we still hold it: assume not
            self.held = bool(renewed)

    async def release(self) -> None:
        if self.held:
            self.held = False
            await self._release(keys=[self._key], args=[self._token])
