"""Campaign actions: schedule, start, pause, resume, cancel. Sending is enqueued after commit."""

from datetime import datetime
from typing import TypeVar

import strawberry

from db import models
from db.enums import CampaignStatus
from db.types import utcnow
from db.usecases import campaign_lifecycle as uc
from graph.context import Info
from graph.errors import UserError
from graph.mutations.campaigns import CampaignPayload
from graph.mutations.support import pk, write
from graph.types.campaign import Campaign
from jobs.progress import publish
from jobs.queue import enqueue_send


@strawberry.input(description="The campaign an action applies to.")
class CampaignActionInput:
    id: strawberry.ID = strawberry.field(description="The campaign's global ID.")


@strawberry.input(description="The campaign to start.")
class StartCampaignInput(CampaignActionInput):
    pass


@strawberry.input(description="The campaign to pause.")
class PauseCampaignInput(CampaignActionInput):
    pass


@strawberry.input(description="The campaign to resume.")
class ResumeCampaignInput(CampaignActionInput):
    pass


@strawberry.input(description="The campaign to cancel.")
class CancelCampaignInput(CampaignActionInput):
    pass


@strawberry.type(description="Result of scheduleCampaign.")
class ScheduleCampaignPayload(CampaignPayload):
    pass


@strawberry.type(description="Result of startCampaign.")
class StartCampaignPayload(CampaignPayload):
    pass


@strawberry.type(description="Result of pauseCampaign.")
class PauseCampaignPayload(CampaignPayload):
    pass


@strawberry.type(description="Result of resumeCampaign.")
class ResumeCampaignPayload(CampaignPayload):
    pass


@strawberry.type(description="Result of cancelCampaign.")
class CancelCampaignPayload(CampaignPayload):
    pass


@strawberry.input(description="Schedule a draft campaign.")
class ScheduleCampaignInput:
    id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    scheduled_at: datetime | None = strawberry.field(
        default=None, description="When to start (future); default: the campaign's scheduledAt."
    )


P = TypeVar("P", bound=CampaignPayload)


async def after_commit(
    info: Info, result: models.Campaign | list[UserError], payload: type[P]
) -> P:
    """The payload, once subscribers know of the change and a campaign left running has its
    send job (both only now that the commit is done)."""
    if isinstance(result, list):
        return payload(user_errors=result)
    await publish(info.context.db, info.context.queue, result.id)
    if result.status is CampaignStatus.RUNNING:
        await enqueue_send(info.context.queue, result.id)
    return payload(campaign=Campaign.from_model(result))


@strawberry.type
class LifecycleMutations:
    @strawberry.mutation(
        description="Allowed from draft. Sets scheduledAt; the campaign starts by itself then."
    )
    async def schedule_campaign(
        self, info: Info, input: ScheduleCampaignInput
    ) -> ScheduleCampaignPayload:
        result = await write(
            info,
            lambda s, a: uc.schedule_campaign(
                s, a, pk(input.id, "Campaign"), input.scheduled_at, utcnow()
            ),
        )
        return await after_commit(info, result, ScheduleCampaignPayload)

    @strawberry.mutation(
        description="Allowed from draft or scheduled. Sends now, or at scheduledAt if that is "
        "in the future. Refused when no audience member may be emailed."
    )
    async def start_campaign(self, info: Info, input: StartCampaignInput) -> StartCampaignPayload:
        result = await write(
            info, lambda s, a: uc.start_campaign(s, a, pk(input.id, "Campaign"), utcnow())
        )
        return await after_commit(info, result, StartCampaignPayload)

    @strawberry.mutation(description="Allowed from running. Nothing more is sent until resumed.")
    async def pause_campaign(self, info: Info, input: PauseCampaignInput) -> PauseCampaignPayload:
        result = await write(
            info, lambda s, a: uc.pause_campaign(s, a, pk(input.id, "Campaign"), utcnow())
        )
        return await after_commit(info, result, PauseCampaignPayload)

    @strawberry.mutation(
        description="Allowed from paused. Continues with exactly the recipients not yet sent."
    )
    async def resume_campaign(
        self, info: Info, input: ResumeCampaignInput
    ) -> ResumeCampaignPayload:
        result = await write(
            info, lambda s, a: uc.resume_campaign(s, a, pk(input.id, "Campaign"), utcnow())
        )
        return await after_commit(info, result, ResumeCampaignPayload)

    @strawberry.mutation(
        description="Allowed from draft, scheduled, running or paused. Final: unsent "
        "recipients are cancelled."
    )
    async def cancel_campaign(
        self, info: Info, input: CancelCampaignInput
    ) -> CancelCampaignPayload:
        result = await write(
            info, lambda s, a: uc.cancel_campaign(s, a, pk(input.id, "Campaign"), utcnow())
        )
        return await after_commit(info, result, CancelCampaignPayload)
