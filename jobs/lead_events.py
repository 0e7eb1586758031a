"""Lead changes after sending (a status callback, a reply, an opt-out), announced on Redis
pub/sub for the `leadUpdates` subscribers of every API process, and the campaign's
progress published again so `executionProgress` and `campaignUpdates` follow.

A message names the leads that changed, by campaign; subscribers read them (they may
have changed again since: the newest state is what they get)."""

import json
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis

from db.engine import Database
from jobs.progress import publish

CHANNEL_PATTERN = "clarion:leads:*"


def channel(account_id: int) -> str:
    return f"clarion:leads:{account_id}"


async def announce(
    db: Database, redis: Redis, account_id: int, changed: Mapping[int, Sequence[int]]
) -> None:
    """Tells subscribers which leads of which campaigns changed (after the commit)."""
    if not changed:
        return
    message = {"campaigns": {str(c): sorted(set(ids)) for c, ids in changed.items() if ids}}
    await redis.publish(channel(account_id), json.dumps(message))
    for campaign_id in changed:
        await publish(db, redis, campaign_id)
