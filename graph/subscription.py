"""Subscriptions (graphql-transport-ws): live progress and lead changes, from the Redis
pub/sub that workers and API processes publish on (jobs/progress.py, jobs/lead_events.py),
through this process's ProgressHub."""

import asyncio
from collections.abc import AsyncGenerator

import strawberry

from db import models
from db.kinds import kind_of
from graph.context import Info
from graph.errors import ClientError
from graph.ids import decode_as, encode_id
from graph.loaders import Loaders
from graph.types.lead import Lead
from graph.types.lead_update import LeadUpdate
from graph.types.progress import ExecutionProgress
from jobs.progress import snapshot

# At most this many updates a second per subscription: changes in between are coalesced,
# and the one delivered is the latest. Each update costs the API process a GraphQL
# execution per subscriber: at 4 a second, 1,000 subscribers took 0.74 of a core and the
# worker beside it sent at half its speed; at 2, 0.53 cores (make bench-progress).
UPDATES_PER_SECOND = 2
# Leads per leadUpdates message: more changed leads come in several messages.
LEADS_PER_UPDATE = 100


async def _own_campaign(info: Info, campaign_id: strawberry.ID) -> models.Campaign:
    """The account's campaign of that ID; another account's is not found, as in queries."""
    ctx = info.context
    ident = decode_as(campaign_id, "Campaign")
    async with ctx.db.read() as session:
        campaign = await session.get(models.Campaign, ident) if ident else None
    if campaign is None or campaign.account_id != ctx.account_id:
        raise ClientError("Campaign not found.", "NOT_FOUND")
    return campaign


@strawberry.type(description="Live updates over WebSocket (graphql-transport-ws).")
class Subscription:
    @strawberry.subscription(
        description="The campaign's progress now, then each change (at most 2 a second, "
        "always the latest), until its execution ends (completed, partially completed, "
        "failed or cancelled)."
    )
    async def execution_progress(
        self, info: Info, campaign_id: strawberry.ID
    ) -> AsyncGenerator[ExecutionProgress, None]:
        ctx = info.context
        campaign = await _own_campaign(info, campaign_id)
        async with ctx.hub.mailbox(ctx.account_id, campaign.id) as mailbox:
            first = await snapshot(ctx.db, ctx.queue, campaign.id)
            if first is None:  # deleted just now
                raise ClientError("Campaign not found.", "NOT_FOUND")
            yield ExecutionProgress.from_snapshot(first)
            last, done = first.at, first.final
            while not done:
                for update in await mailbox.take():
                    if update.at > last:
                        yield ExecutionProgress.from_snapshot(update)
                        last, done = update.at, update.final
                await asyncio.sleep(1 / UPDATES_PER_SECOND)

    @strawberry.subscription(
        description="Every change to any of the account's campaigns (started, progress, "
        "paused, ended, …), at most 2 a second per campaign, for list views. Never ends."
    )
    async def campaign_updates(self, info: Info) -> AsyncGenerator[ExecutionProgress, None]:
        ctx = info.context
        async with ctx.hub.mailbox(ctx.account_id, None) as mailbox:
            while True:
                for update in await mailbox.take():
                    yield ExecutionProgress.from_snapshot(update)
                await asyncio.sleep(1 / UPDATES_PER_SECOND)

    @strawberry.subscription(
        description="Leads of a WhatsApp/SMS campaign as they change (sent, not received, "
        "opted out, delivered, read, replied), each read as it is now, at most 100 per "
        "update and 2 updates a second (changes in between are gathered). Changes only: "
        "read `campaign.leads` after subscribing for the current state. Never ends."
    )
    async def lead_updates(
        self, info: Info, campaign_id: strawberry.ID
    ) -> AsyncGenerator[LeadUpdate, None]:
        ctx = info.context
        campaign = await _own_campaign(info, campaign_id)
        if not kind_of(campaign).has_leads:
            raise ClientError("An email campaign has no leads.", "BAD_REQUEST")
        global_id = strawberry.ID(encode_id("Campaign", campaign.id))
        async with ctx.hub.leads.mailbox(ctx.account_id, campaign.id) as mailbox:
            while True:
                changed = await mailbox.take()
                for start in range(0, len(changed), LEADS_PER_UPDATE):
                    ctx.loaders = Loaders(ctx.db)  # per event: nothing read earlier
                    page = changed[start : start + LEADS_PER_UPDATE]
                    yield LeadUpdate(
                        campaign_id=global_id, leads=[Lead.from_model(r) for r in page]
                    )
                await asyncio.sleep(1 / UPDATES_PER_SECOND)
