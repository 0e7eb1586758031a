"""Templates over the render budget at send time, through real workers and a real SMTP
server: such a template is stored already (an old row, written here straight into the
database past the save-time checks). The test email answers an error while the server
stays responsive; the campaign fails with the reason while another one completes."""

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from db.enums import DeliveryStatus
from db.models import Campaign, Delivery, EmailTemplate
from tests.sending_stack import (
    FINAL_STATUSES,
    SendingStack,
    act,
    audience,
    channel_for,
    email_campaign,
    sending_stack,
    stack,
    wait_until,
)
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, import_contacts, pk_of

__all__ = ["stack"]

# Within every operator limit; 10^12 iterations: only the time budget can stop it.
ENDLESS = (
    "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)
# 2 x 10^8 iterations: several seconds of one core, finite (so this test ends on code
# that renders on the event loop, and fails there).
SLOW = (
    "{% for i in range(600) %}{% for j in range(600) %}{% for k in range(600) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)


async def store_template(stack: SendingStack, campaign_id: str, **sources: str) -> None:
    """Writes the campaign's template sources straight into the database."""
    async with stack.server.db.write() as session:
        template_id = await session.scalar(
            select(Campaign.email_template_id).where(Campaign.id == pk_of(campaign_id, "Campaign"))
        )
        await session.execute(
            update(EmailTemplate).where(EmailTemplate.id == template_id).values(**sources)
        )


async def send_test(client: GraphQLClient, campaign_id: str, email: str) -> dict[str, Any]:
    return await client.mutate(
        "sendTestEmail", {"campaignId": campaign_id, "email": email}, "messageId"
    )


async def test_test_email_over_budget_answers_an_error_and_the_server_keeps_answering(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    # The worker inside the API process, sharing its event loop (`clarion serve`'s default).
    async with sending_stack(tmp_path, workers=0, embedded_worker=True) as stack:
        client = await stack.client()
        campaign_id = await email_campaign(client, await channel_for(client, smtp_sink))
        await store_template(stack, campaign_id, body_html=SLOW)
        before = await client.snapshot()

        for _ in range(300):  # healthy first: the embedded worker's sweeper has ticked once
            if (await client.http.get("/health")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        sending = asyncio.create_task(send_test(client, campaign_id, "a@example.test"))
        health: list[tuple[int, str]] = []
        while not sending.done():
            answer = await client.http.get("/health")
            health.append((answer.status_code, answer.text))
            await asyncio.sleep(0.05)
        payload = await sending

        assert payload["messageId"] is None
        (error,) = payload["userErrors"]
        assert (error["code"], error["field"]) == ("TEMPLATE_TOO_EXPENSIVE", None)
        assert error["message"] == (
            "The template is over the render budget: a message took longer than 1 s to render."
        )
        # The API answered while the template was being rendered (and then stopped).
        assert health
        assert [answer for answer in health if answer[0] != 200] == []
        assert smtp_sink.messages == []
        assert await client.snapshot() == before

        # The renderer goes on with a fresh process: a fine template is sent.
        await store_template(stack, campaign_id, body_html="<p>Hi {{ first_name }}</p>")
        payload = await send_test(client, campaign_id, "a@example.test")
        assert payload["userErrors"] == []
        assert [m.rcpt_tos for m in smtp_sink.messages] == [["a@example.test"]]


async def test_a_campaign_over_budget_fails_while_another_completes(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    code = await channel_for(client, smtp_sink)
    await import_contacts(client, audience(30))
    bad = await email_campaign(client, code, campaignName="Bad", subject="Bad")
    good = await email_campaign(client, code, campaignName="Good", subject="Good")
    await store_template(stack, bad, body_html=ENDLESS)

    await act(client, "startCampaign", bad)
    await act(client, "startCampaign", good)
    failed = await wait_until(client, bad, *FINAL_STATUSES)
    completed = await wait_until(client, good, *FINAL_STATUSES)

    assert failed["status"] == "FAILED"
    execution = failed["execution"]
    assert execution["status"] == "FAILED"
    assert execution["errorMessage"] == (
        "The template is over the render budget: a message took longer than 1 s to render."
    )
    assert (execution["totalSent"], execution["totalFailed"]) == (0, 30)
    assert execution["completedAt"] is not None
    async with stack.server.db.read() as session:
        rows = (
            await session.execute(
                select(Delivery.status, Delivery.error_message).where(
                    Delivery.campaign_id == pk_of(bad, "Campaign")
                )
            )
        ).all()
    assert {status for status, _ in rows} == {DeliveryStatus.FAILED}
    assert {message for _, message in rows} == {"The campaign failed: " + execution["errorMessage"]}

    assert completed["status"] == "COMPLETED"
    assert completed["execution"]["totalSent"] == 30
    assert sorted(m.message()["Subject"] for m in smtp_sink.messages) == ["Good"] * 30
