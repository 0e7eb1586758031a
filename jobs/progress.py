"""Live progress: a campaign's execution as it is now, published on Redis pub/sub whenever
it changes, for the subscribers of any API process.

Workers publish after every recorded batch and when a run ends; the API publishes after
the actions that change a campaign. A message carries the whole snapshot, so delivering
it to a thousand subscribers costs no database read.

The send rate is counted in Redis per campaign and second by whichever worker recorded
the messages: messages per minute over the last minute.

One clock: a snapshot's `at` ("is this update newer", compared by every API process) and
the rate's seconds are Redis' time, never the publishing process' own clock, which may
be off on another host. `at` is taken before the database is read, so a snapshot stamped
later than another has read the database after it too, and the newest state wins.
"""

import json
import logging
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from db.engine import Database
from db.enums import CampaignStatus, ExecutionStatus
from db.kinds import kind_of
from db.models import Campaign, CampaignExecution
from db.rates import percentage
from db.usecases.executions import current, current_many

log = logging.getLogger(__name__)

RATE_WINDOW_S = 60
FINAL_EXECUTION = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.PARTIALLY_COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
    }
)


CHANNEL_PATTERN = "clarion:progress:*"


def channel(account_id: int) -> str:
    return f"clarion:progress:{account_id}"


def account_of(channel_name: bytes) -> int:
    return int(channel_name.rsplit(b":", 1)[1])


def _rate_prefix(campaign_id: int) -> str:
    return f"clarion:sent:{campaign_id}:"


def _rate_key(campaign_id: int, second: int) -> str:
    return f"{_rate_prefix(campaign_id)}{second}"


@dataclass(frozen=True)
class Snapshot:
    """A campaign's progress at `at`. `execution_status` is None before it starts."""

    campaign_id: int
    account_id: int
    campaign_status: CampaignStatus
    execution_status: ExecutionStatus | None
    total_contacts: int
    total_sent: int
    total_failed: int
    total_skipped: int
    started_at: datetime | None
    expected_completion_at: datetime | None
    next_run_at: datetime | None
    error_message: str
    # Messages sent in the last minute, by any worker.
    send_rate_per_minute: int
    # When the rest would be sent at that rate (None when nothing is being sent).
    eta: datetime | None
    # Redis' time just before the database was read: one clock for every process.
    at: datetime
    # What came back after sending, for campaigns whose rows are leads (WhatsApp/SMS);
    # None for email. The rates are db/rates.py's (percent of total_sent).
    total_delivered: int | None = None
    total_read: int | None = None
    total_replied: int | None = None
    total_converted: int | None = None
    reply_rate: float | None = None
    conversion_rate: float | None = None

    @property
    def final(self) -> bool:
        return self.execution_status in FINAL_EXECUTION or self.campaign_status in (
            CampaignStatus.CANCELLED,
            CampaignStatus.FAILED,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_encode)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Snapshot":
        data: dict[str, Any] = json.loads(raw)
        for name in _DATETIMES:
            data[name] = datetime.fromisoformat(data[name]) if data[name] else None
        data["campaign_status"] = CampaignStatus(data["campaign_status"])
        if data["execution_status"] is not None:
            data["execution_status"] = ExecutionStatus(data["execution_status"])
        return cls(**data)


_DATETIMES = ("started_at", "expected_completion_at", "next_run_at", "eta", "at")


def _encode(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


async def redis_now(redis: Redis) -> datetime:
    """Redis' clock: the same for every process."""
    seconds, micros = await redis.time()
    return datetime.fromtimestamp(seconds + micros / 1e6, UTC)


# KEYS[1]: the campaign's rate key prefix; ARGV[1]: messages; ARGV[2]: seconds kept.
# Counts them in the current second of Redis' clock: one round trip.
_COUNT_SENT = """
local key = KEYS[1] .. redis.call('TIME')[1]
redis.call('INCRBY', key, ARGV[1])
redis.call('EXPIRE', key, ARGV[2])
return 0
"""


async def count_sent(redis: Redis, campaign_id: int, n: int) -> None:
    """Adds `n` messages sent now to the campaign's per-second counts. Best effort: the
    rate is an estimate, and a send must not fail because Redis is away."""
    if n <= 0:
        return
    try:
        kept = str(RATE_WINDOW_S + 10)
        await redis.eval(_COUNT_SENT, 1, _rate_prefix(campaign_id), str(n), kept)  # type: ignore[misc]
    except (RedisError, OSError) as exc:
        log.warning("could not count messages sent for campaign %s: %s", campaign_id, exc)


async def send_rate(redis: Redis, campaign_id: int, now: datetime) -> int:
    """Messages sent in the last minute before `now` (Redis' time): the current second and
    the 59 before it."""
    second = int(now.timestamp())
    keys = [_rate_key(campaign_id, s) for s in range(second - RATE_WINDOW_S + 1, second + 1)]
    return sum(int(v) for v in await redis.mget(keys) if v is not None)


async def snapshot(db: Database, redis: Redis, campaign_id: int) -> Snapshot | None:
    """The campaign's progress now, from the database and the rate counts, at Redis' time
    (taken first: see the module's doc)."""
    now = await redis_now(redis)
    async with db.read() as session:
        found = await current(session, campaign_id)
    if found is None:
        return None
    campaign, execution = found
    sending = await send_rate(redis, campaign_id, now) if execution is not None else 0
    return _snapshot(campaign, execution, sending, now)


async def snapshots(db: Database, redis: Redis, campaign_ids: Collection[int]) -> list[Snapshot]:
    """`snapshot` of many campaigns: one read of the database and one of the rate counts."""
    now = await redis_now(redis)
    async with db.read() as session:
        found = await current_many(session, campaign_ids)
    second = int(now.timestamp())
    seconds = range(second - RATE_WINDOW_S + 1, second + 1)
    keys = [_rate_key(campaign.id, s) for campaign, _ in found for s in seconds]
    counts = await redis.mget(keys) if keys else []
    out = []
    for i, (campaign, execution) in enumerate(found):
        window = counts[i * RATE_WINDOW_S : (i + 1) * RATE_WINDOW_S]
        sending = sum(int(v) for v in window if v is not None) if execution is not None else 0
        out.append(_snapshot(campaign, execution, sending, now))
    return out


def _snapshot(
    campaign: Campaign, execution: CampaignExecution | None, sending: int, now: datetime
) -> Snapshot:
    eta = None
    if execution is not None and execution.status is ExecutionStatus.PROCESSING and sending:
        left = execution.total_contacts - execution.total_sent - execution.total_failed
        eta = now + timedelta(minutes=max(left, 0) / sending)
    return Snapshot(
        campaign_id=campaign.id,
        account_id=campaign.account_id,
        campaign_status=campaign.status,
        execution_status=execution.status if execution else None,
        total_contacts=execution.total_contacts if execution else 0,
        total_sent=execution.total_sent if execution else 0,
        total_failed=execution.total_failed if execution else 0,
        total_skipped=execution.total_skipped if execution else 0,
        started_at=execution.started_at if execution else None,
        expected_completion_at=execution.expected_completion_at if execution else None,
        next_run_at=execution.next_run_at if execution else None,
        error_message=execution.error_message if execution else "",
        send_rate_per_minute=sending,
        eta=eta,
        at=now,
        **(_feedback(execution) if kind_of(campaign).has_leads else {}),
    )


def _feedback(execution: CampaignExecution | None) -> dict[str, Any]:
    """A lead campaign's figures after sending (all 0 before it starts)."""
    sent = execution.total_sent if execution else 0
    replied = execution.total_replied if execution else 0
    converted = execution.total_converted if execution else 0
    return {
        "total_delivered": execution.total_delivered if execution else 0,
        "total_read": execution.total_read if execution else 0,
        "total_replied": replied,
        "total_converted": converted,
        "reply_rate": percentage(replied, sent),
        "conversion_rate": percentage(converted, sent),
    }


async def publish_many(db: Database, redis: Redis, campaign_ids: Collection[int]) -> None:
    """`publish` for many campaigns, from one read (jobs/progress_throttle.py)."""
    try:
        found = await snapshots(db, redis, campaign_ids)
        async with redis.pipeline(transaction=False) as pipe:
            for now in found:
                pipe.publish(channel(now.account_id), now.to_json())
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("could not publish progress of %d campaign(s): %s", len(campaign_ids), exc)


async def publish(db: Database, redis: Redis, campaign_id: int) -> None:
    """Tells every subscriber of the campaign's account how it stands now. Best effort: a
    lost message is made good by the next one, and a subscriber starts from a snapshot."""
    try:
        now = await snapshot(db, redis, campaign_id)
        if now is not None:
            await redis.publish(channel(now.account_id), now.to_json())
    except (RedisError, OSError) as exc:
        log.warning("could not publish progress of campaign %s: %s", campaign_id, exc)
