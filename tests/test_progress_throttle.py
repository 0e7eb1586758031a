"""Progress published from lead announcements is throttled per campaign, and the latest
state is always published: a burst of announcements (webhooks for one campaign) costs a few
snapshots a second, and the last one carries the final figures."""

import asyncio
import time

from sqlalchemy import update

from db.models import CampaignExecution
from jobs import progress
from jobs.lead_events import announce
from jobs.progress_throttle import PUBLISH_INTERVAL_S
from tests.live_leads import stack_redis
from tests.messaging_stack import campaign_leads, leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, act, stack, wait_until
from tests.support import pk_of
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]

ANNOUNCEMENTS = 400


async def test_a_burst_publishes_a_few_snapshots_and_the_final_state(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    client = await stack.client()
    campaign = await messaging_campaign(
        client, await twilio_channel_for(client, twilio_standin, "SMS"), leads(2)
    )
    await act(client, "startCampaign", campaign["id"])
    await wait_until(client, campaign["id"], "COMPLETED")
    campaign_pk = pk_of(campaign["id"], "Campaign")
    lead_pk = pk_of((await campaign_leads(client, campaign["id"]))[0]["id"], "Lead")
    async with stack_redis(stack) as redis, redis.pubsub() as pubsub:
        await pubsub.subscribe(progress.channel(client.account_id))
        began = time.monotonic()
        for n in range(1, ANNOUNCEMENTS + 1):
            async with stack.server.db.write() as session:  # a callback's commit
                await session.execute(
                    update(CampaignExecution)
                    .where(CampaignExecution.campaign_id == campaign_pk)
                    .values(total_delivered=n)
                )
            await announce(stack.server.db, redis, client.account_id, {campaign_pk: [lead_pk]})
        took = time.monotonic() - began
        await asyncio.sleep(PUBLISH_INTERVAL_S * 4)  # the trailing publish's time

        published: list[progress.Snapshot] = []
        while (message := await pubsub.get_message(timeout=0.5)) is not None:
            if message["type"] == "message":
                published.append(progress.Snapshot.from_json(message["data"]))

    assert published, "nothing was published"
    assert len(published) <= took / PUBLISH_INTERVAL_S + 2, (len(published), took)
    assert published[-1].campaign_id == campaign_pk
    assert published[-1].total_delivered == ANNOUNCEMENTS
