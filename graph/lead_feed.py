"""Lead changes for the `leadUpdates` subscribers of this process, read once for all of
them: a pub/sub message names the leads that changed (jobs/lead_events.py); the feed reads
those of the campaigns someone here watches, in one query per page of ids, and hands the
rows to every watcher's mailbox.

Webhooks may name a campaign's leads thousands of times a second: ids that arrive while a
campaign's read is under way, or within READ_INTERVAL_S of the last, are gathered into its
next read, so a campaign costs at most a few reads a second however many subscribe to it.
A mailbox keeps the newest row of each lead not yet taken, so a slow subscriber gets the
current state when it is ready, never a growing backlog.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable

from db.engine import Database
from db.lead_reads import campaign_leads
from db.models import Delivery

log = logging.getLogger(__name__)

READ_INTERVAL_S = 0.25
# Ids per query (well under SQLite's bound-parameter limit).
READ_PAGE = 500

# Watched campaigns are keyed by their account too: a message on one account's channel
# never reads another account's leads.
Watched = tuple[int, int]  # (account id, campaign id)


class LeadMailbox:
    """The newest row of each of one campaign's leads changed since the last take."""

    def __init__(self) -> None:
        self._latest: dict[int, Delivery] = {}
        self._ready = asyncio.Event()

    def put(self, rows: Iterable[Delivery]) -> None:
        for row in rows:
            self._latest[row.id] = row
        if self._latest:
            self._ready.set()

    async def take(self) -> list[Delivery]:
        """Waits for news; returns the changed leads, in id order."""
        await self._ready.wait()
        self._ready.clear()
        news, self._latest = self._latest, {}
        return [news[i] for i in sorted(news)]


class LeadFeed:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._boxes: defaultdict[Watched, set[LeadMailbox]] = defaultdict(set)
        self._pending: dict[Watched, set[int]] = {}  # ids to read, by campaign
        self._readers: dict[Watched, asyncio.Task[None]] = {}

    @contextlib.asynccontextmanager
    async def mailbox(self, account_id: int, campaign_id: int) -> AsyncIterator[LeadMailbox]:
        """A mailbox for the campaign's lead changes while the block runs."""
        watched = (account_id, campaign_id)
        box = LeadMailbox()
        self._boxes[watched].add(box)
        try:
            yield box
        finally:
            self._boxes[watched].discard(box)
            if not self._boxes[watched]:
                del self._boxes[watched]

    def changed(self, account_id: int, changed: dict[int, list[int]]) -> None:
        """Leads of the account's campaigns changed: those watched here are read soon."""
        for campaign_id, ids in changed.items():
            watched = (account_id, campaign_id)
            if watched not in self._boxes or not ids:
                continue
            self._pending.setdefault(watched, set()).update(ids)
            if watched not in self._readers:
                self._readers[watched] = asyncio.create_task(self._read(watched))

    async def stop(self) -> None:
        readers = list(self._readers.values())
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, watched: Watched) -> None:
        """Reads the campaign's pending ids until none are left. No await falls between
        finding none and leaving `_readers`, so ids that come later start a new reader."""
        account_id, campaign_id = watched
        try:
            while ids := sorted(self._pending.pop(watched, ())):
                for start in range(0, len(ids), READ_PAGE):
                    try:
                        async with self._db.read() as session:
                            rows = await campaign_leads(
                                session, account_id, campaign_id, ids[start : start + READ_PAGE]
                            )
                    except Exception as exc:  # the database is away: the next change reads
                        log.warning("could not read leads of campaign %s: %s", campaign_id, exc)
                        continue
                    for box in self._boxes.get(watched, ()):
                        box.put(rows)
                await asyncio.sleep(READ_INTERVAL_S)
        finally:
            del self._readers[watched]
