"""sendTestEmail: one rendered message of a campaign to one address, sent by a worker."""

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import DomainError, ErrorCode
from db.usecases.send_plan import test_email_plan
from graph.context import Info
from graph.errors import UserError, user_errors
from graph.limits_text import ADDRESS
from graph.mutations.support import pk, write
from jobs.queue import request_test_email


@strawberry.input(description="Send a campaign's message to one address, as a test.")
class SendTestEmailInput:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    email: str = strawberry.field(
        description=f"Where to send it. {ADDRESS} If a contact of the account has this "
        "address, the template is filled with its fields."
    )


@strawberry.type(description="Result of sendTestEmail.")
class SendTestEmailPayload:
    message_id: str | None = strawberry.field(
        default=None, description="The Message-ID the SMTP server accepted; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was not sent; empty on success."
    )


@strawberry.type
class TestEmailMutations:
    @strawberry.mutation(
        description="Renders the campaign for one address and sends it now, in any status, "
        'with "[Test] " before the subject. Changes nothing: no ledger row, no quota, no '
        "pacing. Waits for the SMTP server's answer (SEND_FAILED when it refuses)."
    )
    async def send_test_email(self, info: Info, input: SendTestEmailInput) -> SendTestEmailPayload:
        async def check(session: AsyncSession, account_id: int) -> int:
            campaign_id = pk(input.campaign_id, "Campaign", "campaign_id")
            await test_email_plan(session, account_id, campaign_id, input.email)
            return campaign_id

        campaign_id = await write(info, check)
        if isinstance(campaign_id, list):
            return SendTestEmailPayload(user_errors=campaign_id)
        answer = await request_test_email(
            info.context.queue, info.context.account_id, campaign_id, input.email
        )
        if "message_id" in answer:
            return SendTestEmailPayload(message_id=answer["message_id"])
        error = DomainError.one(ErrorCode.SEND_FAILED, answer["error"])
        return SendTestEmailPayload(user_errors=user_errors(error))
