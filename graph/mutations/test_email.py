"""sendTestEmail: one rendered message of a campaign to one address, sent by a worker."""

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import DomainError, ErrorCode
from db.smtp_hosts import not_allowed_message
from db.types import utcnow
from db.usecases.send_plan import test_email_plan
from db.usecases.test_sends import check_sendable
from graph import rate_limits
from graph.context import Info
from graph.errors import UserError, user_errors
from graph.limits_text import ADDRESS
from graph.mutations.email_channels import allowed_hosts
from graph.mutations.support import pk, write
from graph.rate_limits import TEST_EMAILS_PER_MINUTE
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
        'with "[Test] " before the subject. At most 10 a minute per account (RATE_LIMITED); '
        "refused on a channel that is not active (CHANNEL_SUSPENDED); counts in the "
        "channel's daily quota (QUOTA_EXCEEDED when used up). No ledger row, no pacing. "
        "HOST_NOT_ALLOWED when the channel's host is not among the server's allowed hosts. "
        "Waits for the SMTP server's answer (SEND_FAILED when it refuses or cannot be "
        "reached; TEMPLATE_TOO_EXPENSIVE when the template is over the render budget)."
    )
    async def send_test_email(self, info: Info, input: SendTestEmailInput) -> SendTestEmailPayload:
        async def check(session: AsyncSession, account_id: int) -> int:
            campaign_id = pk(input.campaign_id, "Campaign", "campaign_id")
            plan, _ = await test_email_plan(session, account_id, campaign_id, input.email)
            await check_sendable(session, plan, utcnow().date())
            if not allowed_hosts(info).allows(plan.settings.smtp.host):
                raise DomainError.one(
                    ErrorCode.HOST_NOT_ALLOWED,
                    not_allowed_message(plan.settings.smtp.host),
                    "campaign_id",
                )
            return campaign_id

        campaign_id = await write(info, check)
        if isinstance(campaign_id, list):
            return SendTestEmailPayload(user_errors=campaign_id)
        try:  # counted only once the rest allows it; outside the transaction
            await rate_limits.take(
                info.context.queue,
                "test emails",
                info.context.account_id,
                TEST_EMAILS_PER_MINUTE,
                60,
            )
        except DomainError as refused:
            return SendTestEmailPayload(user_errors=user_errors(refused))
        answer = await request_test_email(
            info.context.queue, info.context.account_id, campaign_id, input.email
        )
        if "message_id" in answer:
            return SendTestEmailPayload(message_id=answer["message_id"])
        code = ErrorCode(answer.get("code", ErrorCode.SEND_FAILED))
        error = DomainError.one(code, answer["error"])
        return SendTestEmailPayload(user_errors=user_errors(error))
