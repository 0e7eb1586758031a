"""One runner per campaign at a time, across all workers: a Redis lock with a short TTL,
renewed while the runner works. A killed runner's lock lapses within `TTL_S`, and the
sweeper then queues the campaign again.

Two runners could not send a contact twice anyway (the ledger's claims see to that), but
one runner keeps a campaign's spreading and progress estimates coherent.
"""

import asyncio
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
    def __init__(self, redis: Redis, campaign_id: int) -> None:
        self._redis = redis
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._key = runner_key(campaign_id)
        self._token = secrets.token_hex(8)
        self.held = False

    async def acquire(self, wait_s: float) -> bool:
        """Tries for up to `wait_s` (a runner that is just stopping lets go within that)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait_s
        while True:
            if await self._redis.set(self._key, self._token, nx=True, px=int(TTL_S * 1000)):
                self.held = True
                return True
            if loop.time() >= give_up:
                return False
            await asyncio.sleep(0.1)

    async def keep(self) -> None:
        """Renews the lock until cancelled; `held` turns False if it was lost."""
        while self.held:
            await asyncio.sleep(TTL_S / 3)
            try:
                renewed = await self._renew(keys=[self._key], args=[self._token, int(TTL_S * 1000)])
            except (RedisError, OSError):
                renewed = 0  # cannot tell whether we still hold it: assume not
            self.held = bool(renewed)

    async def release(self) -> None:
        if self.held:
            self.held = False
            await self._release(keys=[self._key], args=[self._token])
