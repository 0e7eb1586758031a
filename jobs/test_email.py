"""`sendTestEmail`'s job: the campaign rendered for one address and sent over a connection
of its own. It reads the campaign and changes nothing but the channel's daily quota, which
it counts in (refused when used up, or when the channel is not active): no ledger row, no
pacing.

The subject is prefixed with "[Test] " so a test never passes for the real thing. The
template sees the contact with that address if the account has one, else just the address.
"""

import secrets
from email.utils import format_datetime
from typing import Any

from db.errors import DomainError
from db.types import utcnow
from db.usecases.ledger import recipients
from db.usecases.send_plan import test_email_plan
from db.usecases.test_sends import give_back, use_quota
from jobs.channels.base import Outcome
from jobs.channels.email.mime import MessageFactory, domain_of
from jobs.channels.email.render import TemplateSource, contact_context
from jobs.channels.email.render_pool import OverBudget, RenderError, budget_text
from jobs.channels.email.smtp import SmtpPool
from jobs.channels.email.transport import EmailFamily
from jobs.send import WorkerContext

TEST_SUBJECT_PREFIX = "[Test] "


async def send_test_email(
    ctx: dict[str, Any], account_id: int, campaign_id: int, to: str
) -> dict[str, str]:
    """{"message_id": …} once the server accepted it, else {"error": why} (and "code":
    "template_too_expensive" when the template is over the render budget)."""
    wc: WorkerContext = ctx["clarion"]
    email = wc.families["email"]
    assert isinstance(email, EmailFamily)
    try:
        async with wc.db.read() as session:
            plan, contact_id = await test_email_plan(session, account_id, campaign_id, to)
            known = await recipients(session, [contact_id] if contact_id else [])
    except DomainError as exc:  # changed since the API checked it
        return {"error": str(exc), "code": exc.problems[0].code.value}
    settings = plan.settings
    t = settings.template
    unsubscribe_prefix = f"{wc.public_url}/unsubscribe/"
    template = TemplateSource(
        t.subject, t.body_html, t.body_text, settings.utm_code, unsubscribe_prefix
    )
    link = f"{unsubscribe_prefix}test"
    fields = known.get(contact_id or 0, {"email": to})
    (rendered,) = await email.renderer.render(template, [contact_context(fields, link)])
    if isinstance(rendered, OverBudget):
        return {"error": budget_text(rendered.reason), "code": "template_too_expensive"}
    if isinstance(rendered, RenderError):  # the campaign's template is at fault
        return {"error": f"The template failed to render: {rendered.reason}"}
    message_id = f"<test.{secrets.token_hex(8)}@{domain_of(settings.sender.from_email)}>"
    envelope = MessageFactory(settings.sender, multipart=bool(t.body_text)).build(
        recipient=to,
        subject=TEST_SUBJECT_PREFIX + rendered.subject,
        html=rendered.html,
        text=rendered.text,
        message_id=message_id,
        unsubscribe_url=link,
        date=format_datetime(utcnow()),
    )
    day = utcnow().date()
    try:
        async with wc.db.write() as session:
            await use_quota(session, plan, day)
    except DomainError as exc:  # quota used up, or the channel suspended, since the check
        return {"error": str(exc), "code": exc.problems[0].code.value}
    pool = SmtpPool(settings.smtp, 1, wc.settings.smtp_allowed_hosts)
    try:
        (result,), unavailable = await pool.send([envelope], lambda: True)
    finally:
        await pool.close()
    if result.outcome is Outcome.SENT:
        return {"message_id": message_id}
    if result.outcome is Outcome.UNSENT:  # never handed to the server
        async with wc.db.write() as session:
            await give_back(session, plan, day)
    return {"error": str(unavailable) if unavailable else f"The server refused it: {result.reason}"}
