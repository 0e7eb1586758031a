"""Sending, end to end: the API starts a campaign, a `clarion worker` process sends it to a
real SMTP server (aiosmtpd), and what arrives there is compared with the ledger."""

import asyncio
from collections import Counter
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from db.enums import DeliveryStatus
from db.models import Contact, Delivery
from tests.sending_stack import (
    SendingStack,
    act,
    audience,
    campaign_for,
    execution,
    stack,
    wait_until,
)
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, pk_of

__all__ = ["stack"]

FINAL = ("COMPLETED", "PARTIALLY_COMPLETED", "FAILED", "CANCELLED")


async def ledger(client: GraphQLClient, campaign_id: str) -> dict[str, tuple[str, str, bool]]:
    """email -> (status, message_id, possible_duplicate) of every row of the campaign."""
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(
                Delivery.email, Delivery.status, Delivery.message_id, Delivery.possible_duplicate
            ).where(Delivery.campaign_id == pk_of(campaign_id, "Campaign"))
        )
        return {email: (DeliveryStatus(s).value, mid, dup) for email, s, mid, dup in rows}


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, subtype
    content: str = part.get_content()
    return content


async def test_every_contact_gets_exactly_one_rendered_message(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 250)
    await act(client, "startCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL)

    assert done["status"] == "COMPLETED"
    run = done["execution"]
    assert (run["status"], run["totalContacts"], run["totalSent"], run["totalFailed"]) == (
        "COMPLETED",
        250,
        250,
        0,
    )
    assert run["completedAt"] is not None
    assert run["lastRunAt"] is not None
    expected = {row["email"] for row in audience(250)}
    assert smtp_sink.recipients() == Counter(dict.fromkeys(expected, 1))

    rows = await ledger(client, campaign_id)
    assert set(rows) == expected
    assert {status for status, _, _ in rows.values()} == {"sent"}
    assert not any(dup for _, _, dup in rows.values())
    message_ids = [mid for _, mid, _ in rows.values()]
    assert len(set(message_ids)) == 250

    async with client.server.db.read() as session:
        names = dict((await session.execute(select(Contact.email, Contact.first_name))).all())
    for received in smtp_sink.messages:
        (recipient,) = received.rcpt_tos
        message = received.message()
        assert received.mail_from == "news@acme.test"
        assert message["To"] == recipient
        assert message["From"] == "Acme News <news@acme.test>"
        assert message["Reply-To"] == "help@acme.test"
        assert message["Subject"] == f"Hello {names[recipient]}"
        assert message["Message-ID"] == rows[recipient][1]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = message["List-Unsubscribe"]
        assert unsubscribe.startswith(f"<{stack.server.url}/unsubscribe/")
        html = body(message, "html")
        assert f"<p>Hi {names[recipient]}</p>" in html
        sale = html.split('href="')[1].split('"')[0]
        assert parse_qs(urlsplit(sale.replace("&amp;", "&")).query) == {
            "x": ["1"],
            "utm_source": ["clarion"],
            "utm_medium": ["email"],
            "utm_campaign": ["spring"],
        }
        # The unsubscribe link is the header's, untagged.
        assert f'href="{unsubscribe[1:-1]}"' in html
        assert body(message, "plain").strip() == (
            f"Hi {names[recipient]}, see https://shop.test/sale"
        )


async def test_pause_and_resume_send_each_contact_once(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 300, channel={"rateLimit": 50})
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(60, timeout=30)
    await act(client, "pauseCampaign", campaign_id)
    paused = await execution(client, campaign_id)
    assert paused["execution"]["status"] == "PAUSED"
    # Nothing is sent after the pause settles (a chunk in flight may still land).
    await asyncio.sleep(1.0)
    at_pause = len(smtp_sink.messages)
    await asyncio.sleep(1.5)
    assert len(smtp_sink.messages) == at_pause
    assert at_pause < 300
    sent_rows = [e for e, (s, _, _) in (await ledger(client, campaign_id)).items() if s == "sent"]
    assert sorted(sent_rows) == sorted(smtp_sink.recipients())

    await act(client, "resumeCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL)
    assert done["execution"]["totalSent"] == 300
    assert smtp_sink.recipients() == Counter({row["email"]: 1 for row in audience(300)})
    assert done["execution"]["pausedAt"] is not None
    assert done["execution"]["resumedAt"] is not None
