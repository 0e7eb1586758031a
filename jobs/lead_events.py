"""Lead changes (a message sent, a status callback, a reply, an opt-out), announced on
Redis pub/sub for the `leadUpdates` subscribers of every API process, and the campaign's
progress published again so `executionProgress` and `campaignUpdates` follow.

A message names the leads that changed, by campaign; subscribers read them (they may
have changed again since: the newest state is what they get). Webhooks may announce
thousands of times a second for one campaign: each announcement is one PUBLISH, and the
progress it asks for is throttled per campaign (jobs/progress_throttle.py)."""

import json
import logging
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from db.engine import Database
from jobs.progress_throttle import publish_soon

log = logging.getLogger(__name__)

CHANNEL_PATTERN = "clarion:leads:*"


def channel(account_id: int) -> str:
    return f"clarion:leads:{account_id}"


def account_of(channel_name: bytes) -> int:
    return int(channel_name.rsplit(b":", 1)[1])


def encode(changed: Mapping[int, Sequence[int]]) -> str:
    return json.dumps({"campaigns": {str(c): sorted(set(ids)) for c, ids in changed.items()}})


def decode(raw: str | bytes) -> dict[int, list[int]]:
    """The campaigns and leads a message names. Raises ValueError when it is not one."""
    data = json.loads(raw)
    campaigns = data["campaigns"] if isinstance(data, dict) else None
    if not isinstance(campaigns, dict):
        raise ValueError("not a lead message")
    out: dict[int, list[int]] = {}
    for campaign, ids in campaigns.items():
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise ValueError("not a lead message")
        out[int(campaign)] = ids
    return out


async def tell(redis: Redis, account_id: int, changed: Mapping[int, Sequence[int]]) -> None:
    """Publishes which leads of which campaigns changed (after the commit). Best effort:
    a subscriber that missed it reads the leads again when it reconnects."""
    changed = {c: ids for c, ids in changed.items() if ids}
    if not changed:
        return
    try:
        await redis.publish(channel(account_id), encode(changed))
    except (RedisError, OSError) as exc:
        log.warning("could not announce lead changes of account %s: %s", account_id, exc)


async def announce(
    db: Database, redis: Redis, account_id: int, changed: Mapping[int, Sequence[int]]
) -> None:
    """Tells subscribers which leads of which campaigns changed (after the commit), and has
    those campaigns' progress published (throttled)."""
    await tell(redis, account_id, changed)
    for campaign_id, ids in changed.items():
        if ids:
            publish_soon(db, redis, campaign_id)
