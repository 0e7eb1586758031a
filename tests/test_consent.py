"""Consent while campaigns send (real worker processes, the Twilio stand-in in its own
process, a real SMTP sink): a withdrawal reaches a row already claimed and waiting for its
turn, Twilio's 21610 at send withdraws consent on the record, and an email's unsubscribe
link takes the contact out of a running email campaign."""

import asyncio
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import select

from db.clock import db_now
from db.enums import ChannelType, ConsentSource, DeliveryStatus
from db.models import ConsentChange, Contact, Delivery
from db.usecases.consent import change_consent
from db.usecases.ledger import WITHDRAWN
from tests.messaging_guarantees_stack import (
    at_standin,
    by_number,
    numbers,
    once_each,
    poll,
    run_of,
)
from tests.messaging_stack import leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import (
    FINAL_STATUSES,
    SendingStack,
    act,
    campaign_for,
    channel_for,
    email_campaign,
    stack,
    wait_until,
)
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, pk_of
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]


async def contact_of(client: GraphQLClient, column: Any, value: str) -> int:
    async with client.server.db.read() as session:
        found = await session.scalar(
            select(Contact.id).where(Contact.account_id == client.account_id, column == value)
        )
    assert found is not None
    return found


async def changes_of(client: GraphQLClient, contact_id: int) -> list[tuple[Any, ...]]:
    """The contact's recorded consent changes, oldest first."""
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(
                ConsentChange.channel_type,
                ConsentChange.granted,
                ConsentChange.source,
                ConsentChange.reason,
                ConsentChange.delivery_id,
            )
            .where(ConsentChange.contact_id == contact_id)
            .order_by(ConsentChange.id)
        )
        return [tuple(row) for row in rows]


async def row_of(client: GraphQLClient, campaign_id: str, address: str) -> Delivery:
    async with client.server.db.read() as session:
        row = await session.scalar(
            select(Delivery).where(
                Delivery.campaign_id == pk_of(campaign_id, "Campaign"),
                Delivery.address == address,
            )
        )
    assert row is not None
    return row


async def test_a_withdrawal_while_a_row_waits_for_its_turn_keeps_it_unsent(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """At one message a second each row waits about a second for its turn: consent
    withdrawn in that second keeps the message from going, whether the row was still
    pending (change_consent opts it out) or already claimed for its turn (the engine leaves
    it out, reading consent with the claim and again when the claim is no longer fresh).
    The rest are sent."""
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS", rateLimit=1)
    campaign = await messaging_campaign(client, channel, leads(5))
    target = numbers(5)[2]
    contact = await contact_of(client, Contact.phone, target)
    await act(client, "startCampaign", campaign["id"])

    async def two_sent() -> bool:
        return len(twilio_standin.control.messages()) >= 2

    await poll(two_sent, within=20)  # the target, third, waits for its turn
    async with client.server.db.write() as session:
        await change_consent(
            session,
            client.account_id,
            [contact],
            ChannelType.SMS,
            granted=False,
            source=ConsentSource.KEYWORD,
            reason="Texted STOP",
            now=await db_now(session),
        )
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES)
    others = [n for n in numbers(5) if n != target]
    assert at_standin(twilio_standin) == once_each(others)
    run = (await run_of(client, campaign["id"]))["execution"]
    assert (done["execution"]["status"], run["totalSent"], run["totalSkipped"]) == (
        "COMPLETED",
        4,
        1,
    )
    lead = (await by_number(client, campaign["id"]))[target]
    assert (lead["status"], lead["messageSid"]) == ("OPTED_OUT", None)
    assert lead["errorMessage"] in ("The contact withdrew consent: Texted STOP", WITHDRAWN)
    row = await row_of(client, campaign["id"], target)
    assert (row.claim_token, row.lease_expires_at, row.attempts) == (None, None, 0)
    assert await changes_of(client, contact) == [
        (ChannelType.SMS, False, ConsentSource.KEYWORD, "Texted STOP", None)
    ]


async def test_21610_at_send_is_recorded_and_opts_out_other_running_campaigns(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """Twilio refuses the number with 21610 in one campaign: the contact's SMS consent is
    withdrawn on the record (PROVIDER, the error, the refused row), and its pending lead in
    another running SMS campaign (a slow one) is opted out, never sent."""
    twilio_standin.control.reset()
    client = await stack.client()
    stopped = numbers(6)[5]
    twilio_standin.control.number_error(stopped, 21610)
    slow_channel = await twilio_channel_for(client, twilio_standin, "SMS", code="slow", rateLimit=1)
    slow = await messaging_campaign(client, slow_channel, leads(6), name="Slow")
    await act(client, "startCampaign", slow["id"])
    await asyncio.sleep(0.5)
    fast_channel = await twilio_channel_for(client, twilio_standin, "SMS", code="fast")
    fast = await messaging_campaign(client, fast_channel, leads(1, 5), name="Fast")
    await act(client, "startCampaign", fast["id"])
    assert (await wait_until(client, fast["id"], *FINAL_STATUSES))["execution"]["status"] in (
        "COMPLETED",
        "PARTIALLY_COMPLETED",
    )
    refused = await row_of(client, fast["id"], stopped)
    assert (refused.status, refused.error_code) == (DeliveryStatus.OPTED_OUT, "21610")
    contact = await contact_of(client, Contact.phone, stopped)
    ((channel, granted, source, reason, delivery),) = await changes_of(client, contact)
    assert (channel, granted, source, delivery) == (
        ChannelType.SMS,
        False,
        ConsentSource.PROVIDER,
        refused.id,
    )
    assert reason.startswith("The provider refused a message with error 21610: Twilio 21610")

    await wait_until(client, slow["id"], *FINAL_STATUSES, within=30)
    slow_lead = (await by_number(client, slow["id"]))[stopped]
    assert slow_lead["status"] == "OPTED_OUT"
    assert slow_lead["errorMessage"] == f"The contact withdrew consent: {reason}"[:2000]
    # Neither campaign's message reached it (the refused create made none).
    assert at_standin(twilio_standin) == once_each(numbers(5))
    run = (await run_of(client, slow["id"]))["execution"]
    assert (run["totalSent"], run["totalSkipped"]) == (5, 1)
    # The next withdrawal of a contact already without consent records nothing.
    assert len(await changes_of(client, contact)) == 1


async def test_an_unsubscribe_link_opts_the_contact_out_of_a_running_campaign(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    first = await campaign_for(client, smtp_sink, 6)
    await act(client, "startCampaign", first)
    await wait_until(client, first, *FINAL_STATUSES)
    links = {m.rcpt_tos[0]: m.message()["List-Unsubscribe"].strip("<>") for m in smtp_sink.messages}
    leaving = "c000005@example.test"
    carried_by = (await row_of(client, first, leaving)).id

    slow = await channel_for(client, smtp_sink, code="slow", rateLimit=1)
    second = await email_campaign(client, slow, campaignName="Second")
    await act(client, "startCampaign", second)
    async with httpx.AsyncClient() as http:
        done = await http.post(links[leaving], data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert (await http.post(links[leaving])).status_code == 200  # again: no change
    finished = await wait_until(client, second, *FINAL_STATUSES, within=30)
    assert finished["execution"]["status"] == "COMPLETED"

    received = Counter(m.rcpt_tos[0] for m in smtp_sink.messages)
    assert received == Counter({**dict.fromkeys(links, 2), leaving: 1})
    assert (await row_of(client, second, leaving)).status is DeliveryStatus.OPTED_OUT
    run = (await run_of(client, second))["execution"]
    assert (run["totalSent"], run["totalSkipped"]) == (5, 1)
    contact = await contact_of(client, Contact.email, leaving)
    assert await changes_of(client, contact) == [
        (
            ChannelType.EMAIL,
            False,
            ConsentSource.UNSUBSCRIBE_LINK,
            "Unsubscribed through the link in an email",
            carried_by,
        )
    ]
