"""One Redis pub/sub subscription per API process, fanned out to the WebSocket subscribers
of each account: a thousand dashboards cost one Redis connection, not a thousand. It
carries two kinds of message: progress snapshots (jobs/progress.py) and the ids of leads
that changed (jobs/lead_events.py).

Each subscriber has a mailbox that keeps only the latest snapshot per campaign, so a slow
subscriber gets the newest state when it is ready, never a growing backlog. Lead changes
go to the LeadFeed (graph/lead_feed.py), which reads them once for all their subscribers.

Redis may come and go: the subscription is made again once it answers, and since what was
published meanwhile is lost, each watched campaign's snapshot is then read afresh (its end,
if it ended meanwhile, would otherwise never reach its subscribers). Lead changes
announced meanwhile are lost: a lead subscriber reads the leads it shows again when its
socket reconnects.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from db.engine import Database
from graph.lead_feed import LeadFeed
from jobs import lead_events
from jobs.progress import CHANNEL_PATTERN, Snapshot, account_of, snapshot

log = logging.getLogger(__name__)

_LEADS = lead_events.CHANNEL_PATTERN.encode()
RECONNECT_S = 1.0
READ_WAIT_S = 5.0


class Mailbox:
    """The latest snapshot of each campaign not yet taken (of one campaign, if given)."""

    def __init__(self, campaign_id: int | None) -> None:
        self.campaign_id = campaign_id
        self._latest: dict[int, Snapshot] = {}
        self._ready = asyncio.Event()

    def put(self, snapshot: Snapshot) -> None:
        if self.campaign_id not in (None, snapshot.campaign_id):
            return
        held = self._latest.get(snapshot.campaign_id)
        if held is None or held.at <= snapshot.at:  # publishers' messages may cross
            self._latest[snapshot.campaign_id] = snapshot
            self._ready.set()

    async def take(self) -> list[Snapshot]:
        """Waits for news; returns each changed campaign's latest snapshot."""
        await self._ready.wait()
        self._ready.clear()
        news, self._latest = list(self._latest.values()), {}
        return news


class ProgressHub:
    def __init__(self, redis: Redis, db: Database) -> None:
        self._redis = redis
        self._db = db
        self._boxes: defaultdict[int, set[Mailbox]] = defaultdict(set)
        self.leads = LeadFeed(db)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._pump())
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.leads.stop()

    @contextlib.asynccontextmanager
    async def mailbox(self, account_id: int, campaign_id: int | None) -> AsyncIterator[Mailbox]:
        """A mailbox for the account's snapshots while the block runs. Entered before the
        caller reads its first snapshot, so no change between the two is missed."""
        box = Mailbox(campaign_id)
        self._boxes[account_id].add(box)
        try:
            yield box
        finally:
            self._boxes[account_id].discard(box)
            if not self._boxes[account_id]:
                del self._boxes[account_id]

    async def _pump(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(CHANNEL_PATTERN, lead_events.CHANNEL_PATTERN)
                    if self._subscribed.is_set():
                        log.info("progress subscription is back")
                        await self._catch_up()
                    self._subscribed.set()
                    while True:  # a read with its own timeout: the pool's is for commands
                        message = await pubsub.get_message(timeout=READ_WAIT_S)
                        if message is None or message["type"] != "pmessage":
                            continue
                        if message["pattern"] == _LEADS:
                            self._deliver_leads(message["channel"], message["data"])
                        else:
                            self._deliver(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                log.warning("progress subscription lost (%s); resubscribing", exc)
                await asyncio.sleep(RECONNECT_S)

    async def _catch_up(self) -> None:
        """Puts each watched campaign's snapshot now in its mailboxes (list views, which
        watch a whole account, get the next change)."""
        watched = {box.campaign_id for boxes in self._boxes.values() for box in boxes}
        for campaign_id in watched:
            if campaign_id is None:
                continue
            try:
                now = await snapshot(self._db, self._redis, campaign_id)
            except Exception as exc:  # the next change will tell
                log.warning("could not catch up on campaign %s: %s", campaign_id, exc)
                continue
            if now is not None:
                for box in self._boxes.get(now.account_id, ()):
                    box.put(now)

    def _deliver(self, channel: bytes, data: bytes) -> None:
        boxes = self._boxes.get(account_of(channel))
        if not boxes:
            return
        try:
            snapshot = Snapshot.from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable progress message: %s", exc)
            return
        for box in boxes:
            box.put(snapshot)

    def _deliver_leads(self, channel: bytes, data: bytes) -> None:
        try:
            changed = lead_events.decode(data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable lead message: %s", exc)
            return
        self.leads.changed(lead_events.account_of(channel), changed)
