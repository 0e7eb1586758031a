"""What Twilio answers, end to end (real worker processes, the Twilio stand-in in its own
process): throttling, answers lost after the message was made, per-lead errors, opt-outs,
and account-level errors that halt the execution until they clear."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.messaging_guarantees_stack import (
    at_standin,
    by_number,
    due_now,
    numbers,
    once_each,
    run_of,
    sent_at_least,
    statuses,
    whatsapp_campaign,
)
from tests.messaging_stack import leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import FINAL_STATUSES, SendingStack, act, stack, wait_until
from tests.support import GraphQLClient, import_contacts
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]


async def test_a_429_storm_delays_but_every_lead_gets_one(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """Three 429s for every lead in a row (more than the retries a lead has): a throttled
    create was never processed, so it costs the lead no attempt."""
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(5))
    twilio_standin.control.throttle(15)
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES, within=40)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 5)
    assert at_standin(twilio_standin) == once_each(numbers(5))
    leads_now = await by_number(client, campaign["id"])
    assert {lead["status"] for lead in leads_now.values()} == {"SENT"}
    assert not any(lead["possibleDuplicate"] for lead in leads_now.values())


@pytest.mark.parametrize("through", ["number", "service"])
async def test_a_5xx_after_create_is_looked_up_not_sent_again(
    stack: SendingStack, twilio_standin: Standin, through: str
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    sender: dict[str, Any] = {}
    if through == "service":
        sender = {"fromNumber": None, "messagingServiceSid": twilio_standin.messaging_service_sid}
    channel = await twilio_channel_for(client, twilio_standin, "SMS", **sender)
    campaign = await messaging_campaign(client, channel, leads(6))
    twilio_standin.control.server_errors(2)  # made and stored, then 500
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 6)

    sent = twilio_standin.control.messages()
    assert Counter(m["to"] for m in sent) == once_each(numbers(6))
    answered_500 = {m["to"]: m["sid"] for m in sent if m["standin"]["answered"] == 500}
    assert len(answered_500) == 2
    leads_now = await by_number(client, campaign["id"])
    assert {n: lead["messageSid"] for n, lead in leads_now.items()} == {
        m["to"]: m["sid"] for m in sent
    }
    assert {lead["status"] for lead in leads_now.values()} == {"SENT"}
    # Found in Twilio: one message, known to be this lead's; no duplicate is possible.
    assert not any(lead["possibleDuplicate"] for lead in leads_now.values())


async def test_a_timeout_after_create_is_looked_up_not_sent_again(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """The stand-in makes the message and answers after our HTTP client's 10 s."""
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(3))
    twilio_standin.control.delay(11, count=1)
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES, within=40)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 3)
    sent = twilio_standin.control.messages()
    assert Counter(m["to"] for m in sent) == once_each(numbers(3))
    leads_now = await by_number(client, campaign["id"])
    assert {n: (lead["status"], lead["messageSid"]) for n, lead in leads_now.items()} == {
        m["to"]: ("SENT", m["sid"]) for m in sent
    }


async def test_another_campaigns_message_is_not_taken_for_a_lost_answer(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """The same numbers had a message from the same sender minutes ago (another campaign).
    A create now answers 503 having made nothing: the lookup must not take the other
    campaign's message for this lead's; the lead is sent its own."""
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    first = await messaging_campaign(client, channel, leads(4))
    await act(client, "startCampaign", first["id"])
    assert (await wait_until(client, first["id"], *FINAL_STATUSES))["status"] == "COMPLETED"
    earlier = {m["sid"] for m in twilio_standin.control.messages()}
    await asyncio.sleep(3.5)  # past the lookup's margin for clocks (2 s, and whole seconds)

    second = await messaging_campaign(client, channel, leads(4), name="Second")
    twilio_standin.control.server_errors(1, status=503, create=False)
    await act(client, "startCampaign", second["id"])
    done = await wait_until(client, second["id"], *FINAL_STATUSES)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 4)
    assert at_standin(twilio_standin) == Counter(dict.fromkeys(numbers(4), 2))
    sids = {lead["messageSid"] for lead in (await by_number(client, second["id"])).values()}
    assert len(sids) == 4
    assert not sids & earlier


async def test_invalid_numbers_fail_their_lead_only(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    bad, not_mobile, *good = numbers(6)
    twilio_standin.control.number_error(bad, 21211)
    twilio_standin.control.number_error(not_mobile, 21614)
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, channel, leads(6))
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES)
    run = done["execution"]
    assert (run["status"], run["totalSent"], run["totalFailed"]) == ("PARTIALLY_COMPLETED", 4, 2)
    assert at_standin(twilio_standin) == once_each(good)
    leads_now = await by_number(client, campaign["id"])
    failed = {
        n: (lead["status"], lead["errorCode"], lead["errorMessage"], lead["messageSid"])
        for n, lead in leads_now.items()
        if n in (bad, not_mobile)
    }
    assert failed == {
        bad: ("NOT_RECEIVED", "21211", "Twilio 21211: Invalid 'To' Phone Number (HTTP 400)", None),
        not_mobile: (
            "NOT_RECEIVED",
            "21614",
            "Twilio 21614: 'To' number is not a valid mobile number (HTTP 400)",
            None,
        ),
    }
    assert {leads_now[n]["status"] for n in good} == {"SENT"}


CONSENT = "contact { marketingConsent { email sms whatsapp } }"


async def campaign_on(
    client: GraphQLClient, standin: Standin, channel: str, kind: str, name: str
) -> dict[str, Any]:
    """An SMS campaign, or an approved WhatsApp one, to leads(4)."""
    if kind == "SMS":
        return await messaging_campaign(client, channel, leads(4), name=name)
    campaign, _ = await whatsapp_campaign(client, standin, channel, leads(4), name=name)
    return campaign


@pytest.mark.parametrize("kind", ["SMS", "WHATSAPP"])
async def test_an_opted_out_number_withdraws_consent_and_is_left_out_later(
    stack: SendingStack, twilio_standin: Standin, kind: str
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    stopped, *others = numbers(4)
    prefix = "whatsapp:" if kind == "WHATSAPP" else ""
    twilio_standin.control.number_error(stopped, 21610)
    channel = await twilio_channel_for(client, twilio_standin, kind)
    campaign = await campaign_on(client, twilio_standin, channel, kind, "First")
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES)
    assert done["execution"]["totalSent"] == 3
    assert at_standin(twilio_standin) == once_each(others, prefix)
    lead = (await by_number(client, campaign["id"]))[stopped]
    assert (lead["status"], lead["errorCode"]) == ("OPTED_OUT", "21610")
    data = await client.gql(
        f"query($id: ID!) {{ node(id: $id) {{ ... on Lead {{ {CONSENT} }} }} }}",
        {"id": lead["id"]},
    )
    # Withdrawn for this channel only: the other is another channel, email another family.
    assert data["node"]["contact"]["marketingConsent"] == {
        "email": True,
        "sms": kind != "SMS",
        "whatsapp": kind != "WHATSAPP",
    }
    assert (await run_of(client, campaign["id"]))["execution"]["totalSkipped"] == 1

    twilio_standin.control.number_error(stopped, None)  # Twilio would still refuse; no matter
    later = await campaign_on(client, twilio_standin, channel, kind, "Later")
    await act(client, "startCampaign", later["id"])
    done = await wait_until(client, later["id"], *FINAL_STATUSES)
    run = (await run_of(client, later["id"]))["execution"]
    assert (run["totalSent"], run["totalSkipped"]) == (3, 1)
    assert at_standin(twilio_standin) == Counter({f"{prefix}{n}": 2 for n in others})
    assert (await statuses(client, later["id"]))[stopped] == "OPTED_OUT"


async def test_a_lead_missing_a_variable_is_never_sent_an_empty_value(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """An added lead without a value is refused (addLeads); an audience's member whose
    contact field is empty is left out at start and counted, never sent."""
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS")
    rows = leads(2)
    del rows[1]["customVariables"]["code"]
    refused = await client.mutate(
        "createMessagingCampaign",
        {"name": "S", "channel": channel, "contentType": "TEXT"}
        | {"contentContext": {"body": "Hi {{first_name}}, code {{code}}."}, "leads": rows},
        "campaign { id }",
    )
    assert refused["campaign"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["leads", "1", "customVariables"], "REQUIRED")
    ]

    named, unnamed = numbers(2)
    await import_contacts(
        client,
        [
            {"phone": named, "firstName": "Ann", "tags": ["sms"]}
            | {"marketingConsent": {"sms": True}},
            {"phone": unnamed, "tags": ["sms"], "marketingConsent": {"sms": True}},
        ],
    )
    payload = await client.mutate(
        "createAudience", {"name": "Texters", "tags": ["sms"], "code": "texters"}, "audience { id }"
    )
    assert payload["userErrors"] == []
    campaign = await messaging_campaign(
        client, channel, [], audience="texters", contentContext={"body": "Hi {{first_name}}!"}
    )
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES)
    run = (await run_of(client, campaign["id"]))["execution"]
    assert (done["execution"]["status"], run["totalSent"], run["totalSkipped"]) == (
        "COMPLETED",
        1,
        1,
    )
    assert [(m["to"], m["body"]) for m in twilio_standin.control.messages()] == [(named, "Hi Ann!")]
    leads_now = await by_number(client, campaign["id"])
    assert (leads_now[unnamed]["status"], leads_now[unnamed]["errorMessage"]) == (
        "CANCELLED",
        "No value for the variable(s) first_name.",
    )


@pytest.mark.parametrize("code", [20003, 21408, 63018])
async def test_an_account_error_halts_until_it_clears(
    stack: SendingStack, twilio_standin: Standin, code: int
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS", rateLimit=10)
    campaign = await messaging_campaign(client, channel, leads(30))
    await act(client, "startCampaign", campaign["id"])
    await sent_at_least(twilio_standin, 5)
    twilio_standin.control.account_error(code)
    halted = await wait_until(client, campaign["id"], "HALTED", within=10)
    assert halted["status"] == "RUNNING"
    assert f"Twilio {code}: " in halted["execution"]["errorMessage"]
    next_run = datetime.fromisoformat(halted["execution"]["nextRunAt"])
    # Meta's messaging limit is probed again in an hour; the others after the halt delay.
    wait = timedelta(hours=1) if code == 63018 else timedelta(seconds=2)
    assert abs(next_run - datetime.now(UTC) - wait) < timedelta(seconds=5)
    at_halt = at_standin(twilio_standin)
    await asyncio.sleep(2.5)  # sweeps come and go: nothing more is sent
    assert at_standin(twilio_standin) == at_halt
    assert max(at_halt.values()) == 1
    now = await statuses(client, campaign["id"])
    assert Counter(now.values()) == {"SENT": len(at_halt), "PENDING": 30 - len(at_halt)}

    twilio_standin.control.account_error(None)
    if code == 63018:  # Meta's limit is probed again in an hour: let the hour pass
        await due_now(client, campaign["id"])
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 30)
    assert done["execution"]["errorMessage"] == ""
    assert at_standin(twilio_standin) == once_each(numbers(30))
