"""The lead feed reads a campaign's changed leads once for all of its watchers, gathering a
burst of announcements into a few reads, and reads nothing for campaigns nobody watches
or that another account names."""

import asyncio
from typing import Any

from sqlalchemy import event

from graph.lead_feed import READ_INTERVAL_S, LeadFeed
from tests.messaging_stack import campaign_leads, leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, stack
from tests.support import pk_of
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]

BURST = 500


async def test_a_burst_is_read_a_few_times_for_every_watcher(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    client = await stack.client()
    other = await stack.client("Other")
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(20))
    unwatched = await messaging_campaign(client, channel, leads(2, start=40))
    campaign_pk = pk_of(campaign["id"], "Campaign")
    ids = [pk_of(lead["id"], "Lead") for lead in await campaign_leads(client, campaign["id"])]
    unwatched_ids = [
        pk_of(lead["id"], "Lead") for lead in await campaign_leads(client, unwatched["id"])
    ]

    db = stack.server.db
    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM deliveries" in statement:
            reads.append(statement)

    feed = LeadFeed(db)
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with (
            feed.mailbox(client.account_id, campaign_pk) as first,
            feed.mailbox(client.account_id, campaign_pk) as second,
        ):
            began = asyncio.get_running_loop().time()
            for n in range(BURST):
                feed.changed(client.account_id, {campaign_pk: [ids[n % len(ids)]]})
                feed.changed(client.account_id, {pk_of(unwatched["id"], "Campaign"): unwatched_ids})
                feed.changed(other.account_id, {campaign_pk: ids})  # not that account's
                if n % 50 == 0:
                    await asyncio.sleep(0.01)  # the announcements come over time
            took = asyncio.get_running_loop().time() - began
            await asyncio.sleep(READ_INTERVAL_S * 3)  # the last read is done
            mine, theirs = await first.take(), await second.take()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        await feed.stop()

    assert [row.id for row in mine] == sorted(ids)  # none of the unwatched campaign's
    assert all(a is b for a, b in zip(mine, theirs, strict=True))  # one read for both
    assert len(reads) <= took / READ_INTERVAL_S + 2, (len(reads), took)
