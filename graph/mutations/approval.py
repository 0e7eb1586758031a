"""submitCampaignForApproval: a WhatsApp campaign's template goes to Meta for approval
through the channel's Twilio account (jobs/approval.py talks to Twilio between two
transactions, so a refusal or a failure there changes nothing)."""

import strawberry

from db.enums import ApprovalCategory
from db.errors import DomainError
from graph import rate_limits
from graph.context import Info
from graph.errors import user_errors
from graph.mutations.campaigns import CampaignPayload
from graph.mutations.support import pk
from graph.types.campaign import Campaign
from jobs.approval import submit

# Requests that reach Twilio, per account (each makes a Content resource there).
SUBMISSIONS_PER_MINUTE = 10


@strawberry.input(description="The WhatsApp campaign whose template to submit.")
class SubmitCampaignForApprovalInput:
    id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    category: ApprovalCategory = strawberry.field(
        description="The template's category, which Meta reviews and prices it by."
    )


@strawberry.type(description="Result of submitCampaignForApproval.")
class SubmitCampaignForApprovalPayload(CampaignPayload):
    pass


@strawberry.type
class ApprovalMutations:
    @strawberry.mutation(
        description="WhatsApp campaigns only (SMS needs no approval: INVALID). Creates the "
        "campaign's Content resource in the channel's Twilio account from contentContext (a "
        "campaign made from contentSid submits that template) and requests its WhatsApp "
        "approval; approvalStatus becomes RECEIVED and a worker follows it (every 5 s at "
        "first, the wait doubling up to 5 min) until it is APPROVED, REJECTED (with "
        "rejectionReason), PAUSED or DISABLED. Allowed while UNSUBMITTED; again after "
        "REJECTED or DISABLED before the campaign starts (a new Content resource). Refused "
        "with INVALID_STATE while RECEIVED, PENDING, APPROVED or PAUSED, or when the campaign "
        "is final; SEND_FAILED with Twilio's reason when Twilio refuses or cannot be reached "
        "(nothing changed); RATE_LIMITED past 10 requests that reach Twilio a minute per "
        "account. Waits for Twilio: at most about 20 s."
    )
    async def submit_campaign_for_approval(
        self, info: Info, input: SubmitCampaignForApprovalInput
    ) -> SubmitCampaignForApprovalPayload:
        ctx = info.context

        async def gate() -> None:
            await rate_limits.take(
                ctx.queue, "approval requests", ctx.account_id, SUBMISSIONS_PER_MINUTE, 60
            )

        try:
            campaign = await submit(
                ctx.db, ctx.queue, ctx.account_id, pk(input.id, "Campaign"), input.category, gate
            )
        except DomainError as error:
            return SubmitCampaignForApprovalPayload(user_errors=user_errors(error))
        return SubmitCampaignForApprovalPayload(campaign=Campaign.from_model(campaign))
