"""A WhatsApp/SMS campaign's rates and what converts a lead.

The percentage table tests db/rates.py alone. The rest runs over real HTTP: conversion
payloads checked on create and update (every refusal typed, nothing changed), and the
figures of a WhatsApp campaign really sent by a `clarion worker` to the Twilio stand-in,
with known outcomes.

Deliveries and reads come from the stand-in's signed status callbacks (a plan per
number), replies and a quick-reply tap from its signed inbound posts, conversions from
addLtv and the tap.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from db import models
from db.rates import percentage
from jobs import lead_events
from tests.inbound_stack import inbound_applied
from tests.messaging_api import create, created, errors_of, make_twilio_channel
from tests.messaging_stack import leads, twilio_channel_for
from tests.sending_stack import SendingStack, act, sending_stack, wait_until
from tests.support import GraphQLClient, make_channel, make_email_campaign, pk_of
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["twilio_standin"]

RATES = """
    messagesSent messagesDelivered messagesRead messagesReplied messagesConverted
    replyRate conversionRate conversionPayloads
"""
BUY = {"type": "QUICK_REPLY", "title": "Buy now", "id": "buy"}
LATER = {"type": "QUICK_REPLY", "title": "Later", "id": "later"}
QUICK_REPLIES = {"body": "Hi {{first_name}}, your code is {{code}}.", "actions": [BUY, LATER]}


# --- the percentage ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "whole", "rate"),
    [
        (3, 10, 30.0),
        (0, 10, 0.0),
        (0, 0, 0.0),
        (5, 0, 0.0),  # nothing sent: 0, never a division by zero
        (10, 10, 100.0),
        (11, 10, 100.0),  # capped
        (1, 3, 33.33),
        (2, 3, 66.67),
        (1, 8, 12.5),
        (1, 32, 3.13),  # 3.125 half up (a float rounds it to 3.12)
        (1, 800, 0.13),  # 0.125 half up
        (1, 200_000, 0.0),  # 0.0005
        (1, 20_000, 0.01),  # 0.005 half up
        (7, 9, 77.78),
        (-1, 10, 0.0),
    ],
)
def test_percentage(part: int, whole: int, rate: float) -> None:
    assert percentage(part, whole) == rate


# --- conversion payloads -----------------------------------------------------------------


async def whatsapp_quick_reply(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    return await create(
        client,
        channel="whatsapp",
        contentType="QUICK_REPLY",
        contentContext=QUICK_REPLIES,
        leads=leads(2),
        **input,
    )


async def rates_of(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    data = await client.gql(
        f"query($id: ID!) {{ campaign(id: $id) {{ {RATES} }} }}", {"id": campaign_id}
    )
    found: dict[str, Any] = data["campaign"]
    return found


async def test_payloads_are_stored_and_shown(client: GraphQLClient) -> None:
    await make_twilio_channel(client, "WHATSAPP")
    payload = await whatsapp_quick_reply(client, conversionPayloads=["later", "buy"])
    assert payload["userErrors"] == []
    campaign_id = payload["campaign"]["id"]
    assert (await rates_of(client, campaign_id))["conversionPayloads"] == ["later", "buy"]
    async with client.server.db.read() as session:
        row = await session.get_one(models.Campaign, pk_of(campaign_id, "Campaign"))
        assert row.conversion_payloads == ["later", "buy"]
    # Left out, null or []: none (stored as NULL).
    nothing: list[dict[str, Any]] = [{}, {"conversionPayloads": None}, {"conversionPayloads": []}]
    for i, given in enumerate(nothing):
        made = (await whatsapp_quick_reply(client, name=f"None {i}", **given))["campaign"]
        assert (await rates_of(client, made["id"]))["conversionPayloads"] == []
        async with client.server.db.read() as session:
            row = await session.get_one(models.Campaign, pk_of(made["id"], "Campaign"))
            assert row.conversion_payloads is None


async def test_before_a_start_every_figure_is_zero(client: GraphQLClient) -> None:
    await make_twilio_channel(client, "WHATSAPP")
    await make_twilio_channel(client, "SMS")
    sms = await created(client, contentContext={"body": "Hi {{first_name}}"}, leads=leads(3))
    whatsapp = (await whatsapp_quick_reply(client, conversionPayloads=["buy"]))["campaign"]
    zero = {
        "messagesSent": 0,
        "messagesDelivered": 0,
        "messagesRead": 0,
        "messagesReplied": 0,
        "messagesConverted": 0,
        "replyRate": 0.0,
        "conversionRate": 0.0,
    }
    assert await rates_of(client, sms["id"]) == {**zero, "conversionPayloads": []}
    assert await rates_of(client, whatsapp["id"]) == {**zero, "conversionPayloads": ["buy"]}


async def test_email_campaigns_have_no_rates(client: GraphQLClient) -> None:
    await make_channel(client)
    campaign = await make_email_campaign(client)
    assert await rates_of(client, campaign["id"]) == {
        "messagesSent": 0,
        "messagesDelivered": 0,
        "messagesRead": 0,
        "messagesReplied": 0,
        "messagesConverted": 0,
        "replyRate": None,
        "conversionRate": None,
        "conversionPayloads": None,
    }
    before = await client.snapshot()
    payload = await client.mutate(
        "updateCampaign", {"id": campaign["id"], "conversionPayloads": ["buy"]}, "campaign { id }"
    )
    assert errors_of(payload) == [(["conversionPayloads"], "INVALID")]
    assert await client.snapshot() == before


BAD_PAYLOADS: list[tuple[list[str], list[tuple[list[str], str]]]] = [
    ([f"p{i}" for i in range(11)], [(["conversionPayloads"], "TOO_MANY")]),
    ([""], [(["conversionPayloads", "0"], "REQUIRED")]),
    (["buy", "x" * 201], [(["conversionPayloads", "1"], "TOO_LONG")]),
    (["bu\x07y"], [(["conversionPayloads", "0"], "INVALID")]),
    (["buy\x7f"], [(["conversionPayloads", "0"], "INVALID")]),
    (["buy\n"], [(["conversionPayloads", "0"], "INVALID")]),
    (["later\u2028"], [(["conversionPayloads", "0"], "INVALID")]),
    (["buy", "buy"], [(["conversionPayloads", "1"], "DUPLICATE")]),
    (["buy", "maybe"], [(["conversionPayloads", "1"], "INVALID")]),
    (["Buy now"], [(["conversionPayloads", "0"], "INVALID")]),  # a title is not an id
    (
        ["", "nope", "later"],
        [(["conversionPayloads", "0"], "REQUIRED"), (["conversionPayloads", "1"], "INVALID")],
    ),
]


@pytest.mark.parametrize(("payloads", "expected"), BAD_PAYLOADS)
async def test_bad_payloads_refuse_the_create(
    client: GraphQLClient, payloads: list[str], expected: list[tuple[list[str], str]]
) -> None:
    await make_twilio_channel(client, "WHATSAPP")
    before = await client.snapshot()
    payload = await whatsapp_quick_reply(client, conversionPayloads=payloads)
    assert payload["campaign"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


@pytest.mark.parametrize(("payloads", "expected"), BAD_PAYLOADS)
async def test_bad_payloads_refuse_the_update(
    client: GraphQLClient, payloads: list[str], expected: list[tuple[list[str], str]]
) -> None:
    await make_twilio_channel(client, "WHATSAPP")
    campaign = (await whatsapp_quick_reply(client, conversionPayloads=["buy"]))["campaign"]
    before = await client.snapshot()
    payload = await client.mutate(
        "updateCampaign",
        {"id": campaign["id"], "name": "Renamed", "conversionPayloads": payloads},
        "campaign { id }",
    )
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


async def test_a_nul_in_a_payload_is_a_malformed_request(client: GraphQLClient) -> None:
    """NUL never reaches the use case: the String scalar refuses it (PostgreSQL cannot
    store it), as for every text input."""
    await make_twilio_channel(client, "WHATSAPP")
    before = await client.snapshot()
    response = await client.raw(
        "mutation($input: CreateMessagingCampaignInput!) { createMessagingCampaign("
        "input: $input) { campaign { id } } }",
        {
            "input": {
                "name": "n",
                "channel": "whatsapp",
                "contentType": "QUICK_REPLY",
                "contentContext": QUICK_REPLIES,
                "conversionPayloads": ["bu\x00y"],
            }
        },
    )
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_USER_INPUT"]
    assert await client.snapshot() == before


async def test_content_without_quick_replies_takes_no_payload(client: GraphQLClient) -> None:
    await make_twilio_channel(client, "SMS")
    before = await client.snapshot()
    payload = await create(
        client, contentContext={"body": "Hi"}, leads=leads(1), conversionPayloads=["buy"]
    )
    assert errors_of(payload) == [(["conversionPayloads", "0"], "INVALID")]
    assert "has none" in payload["userErrors"][0]["message"]
    assert await client.snapshot() == before


async def test_update_sets_and_clears_payloads(client: GraphQLClient) -> None:
    await make_twilio_channel(client, "WHATSAPP")
    campaign = (await whatsapp_quick_reply(client))["campaign"]

    async def update_to(value: list[str] | None) -> list[str]:
        payload = await client.mutate(
            "updateCampaign",
            {"id": campaign["id"], "conversionPayloads": value},
            "campaign { conversionPayloads }",
        )
        assert payload["userErrors"] == []
        shown: list[str] = payload["campaign"]["conversionPayloads"]
        return shown

    assert await update_to(["buy", "later"]) == ["buy", "later"]
    assert await update_to([]) == []
    assert await update_to(["later"]) == ["later"]
    assert await update_to(None) == []


async def test_a_content_change_may_not_drop_a_payloads_button(client: GraphQLClient) -> None:
    await make_twilio_channel(client, "WHATSAPP")
    campaign = (await whatsapp_quick_reply(client, conversionPayloads=["later"]))["campaign"]
    before = await client.snapshot()
    only_buy = {**QUICK_REPLIES, "actions": [BUY]}
    payload = await client.mutate(
        "updateCampaign", {"id": campaign["id"], "contentContext": only_buy}, "campaign { id }"
    )
    assert errors_of(payload) == [(["contentContext"], "INVALID")]
    assert await client.snapshot() == before
    # With the payloads changed in the same call, it goes through.
    payload = await client.mutate(
        "updateCampaign",
        {"id": campaign["id"], "contentContext": only_buy, "conversionPayloads": ["buy"]},
        "campaign { conversionPayloads contentContext }",
    )
    assert payload["userErrors"] == []
    assert payload["campaign"]["conversionPayloads"] == ["buy"]
    assert payload["campaign"]["contentContext"] == only_buy


async def test_payloads_are_not_editable_once_cancelled(client: GraphQLClient) -> None:
    await make_twilio_channel(client, "WHATSAPP")
    campaign = (await whatsapp_quick_reply(client, conversionPayloads=["buy"]))["campaign"]
    await act(client, "cancelCampaign", campaign["id"])
    before = await client.snapshot()
    payload = await client.mutate(
        "updateCampaign", {"id": campaign["id"], "conversionPayloads": ["later"]}, "campaign { id }"
    )
    assert errors_of(payload) == [(["conversionPayloads"], "NOT_EDITABLE")]
    assert await client.snapshot() == before


# --- a campaign sent with known outcomes ---------------------------------------------------


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SendingStack]:
    """Quick approval polls, so the WhatsApp template is approved within a second."""
    async with sending_stack(
        tmp_path, CLARION_APPROVAL_POLL_SECONDS="0.4,0.8", CLARION_APPROVAL_FRESH_SECONDS="1"
    ) as made:
        yield made


async def approved_and_started(client: GraphQLClient, campaign_id: str) -> None:
    payload = await client.mutate(
        "submitCampaignForApproval", {"id": campaign_id, "category": "MARKETING"}, "campaign { id }"
    )
    assert payload["userErrors"] == [], payload
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 30
    while True:
        data = await client.gql(
            "query($id: ID!) { campaign(id: $id) { approvalStatus } }", {"id": campaign_id}
        )
        if data["campaign"]["approvalStatus"] == "APPROVED":
            break
        assert loop.time() < give_up, data
        await asyncio.sleep(0.1)
    await act(client, "startCampaign", campaign_id)


async def leads_by(client: GraphQLClient, campaign_id: str) -> list[tuple[str, dict[str, Any]]]:
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { leads(first: 100) { edges { node { "
        "id phoneNumber status messageSid convertedAt contact { ltv } } } } } }",
        {"id": campaign_id},
    )
    return [(e["node"]["phoneNumber"], e["node"]) for e in data["campaign"]["leads"]["edges"]]


async def announcement(pubsub: PubSub, within: float = 10) -> Any:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while loop.time() < give_up:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
        if message is not None:
            return json.loads(message["data"])
    raise AssertionError("nothing was announced")


async def inbound_url_of(client: GraphQLClient, code: str) -> str:
    data = await client.gql("{ twilioChannels(first: 5) { edges { node { code inboundUrl } } } }")
    (url,) = [
        e["node"]["inboundUrl"]
        for e in data["twilioChannels"]["edges"]
        if e["node"]["code"] == code
    ]
    return str(url)


async def add_ltv(client: GraphQLClient, campaign_id: str, **who: str) -> dict[str, Any]:
    payload = await client.mutate(
        "addLtv",
        {"campaignId": campaign_id, "value": "10", "currency": "USD", **who},
        "lead { id convertedAt } campaign { messagesConverted conversionRate }",
    )
    assert payload["userErrors"] == [], payload
    return payload


async def test_rates_of_a_sent_campaign_with_known_outcomes(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """12 leads, 2 numbers Twilio refuses: 10 sent; Twilio reports 8 delivered, 5 of them
    read. 3 converted by addLtv (leadId, contactPhone, and leadId five times at once),
    4 replied with text and 1 tapped the conversion's quick reply: 5 replied, 4 converted."""
    twilio_standin.control.reset()
    twilio_standin.control.callback_plan(enabled=True)
    twilio_standin.control.approval_plan("approved", after_fetches=0)
    for bad in ("+14155550010", "+14155550011"):
        twilio_standin.control.number_error(bad, 21211)
    for n, final in (
        (5, "delivered"),
        (6, "delivered"),
        (7, "delivered"),
        (8, "sent"),
        (9, "sent"),
    ):
        twilio_standin.control.callback_number(f"+1415555{n:04d}", final=final)
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "WHATSAPP", rateLimit=2)
    payload = await client.mutate(
        "createMessagingCampaign",
        {
            "name": "Rates",
            "channel": channel,
            "contentType": "QUICK_REPLY",
            "contentContext": QUICK_REPLIES,
            "leads": leads(12),
            "conversionPayloads": ["buy"],
        },
        "campaign { id }",
    )
    assert payload["userErrors"] == [], payload
    campaign_id = payload["campaign"]["id"]
    await approved_and_started(client, campaign_id)

    # Editable while it runs and while paused (the statuses right after each action).
    for action, payloads in (
        (None, ["buy", "later"]),
        ("pauseCampaign", ["later"]),
        ("resumeCampaign", ["buy"]),
    ):
        if action:
            await act(client, action, campaign_id)
        changed = await client.mutate(
            "updateCampaign",
            {"id": campaign_id, "conversionPayloads": payloads},
            "campaign { status conversionPayloads }",
        )
        assert changed["userErrors"] == [], changed
        assert changed["campaign"]["conversionPayloads"] == payloads

    done = await wait_until(client, campaign_id, "PARTIALLY_COMPLETED", "FAILED", within=60)
    assert (done["execution"]["totalSent"], done["execution"]["totalFailed"]) == (10, 2)
    before = await client.snapshot()
    refused = await client.mutate(
        "updateCampaign", {"id": campaign_id, "conversionPayloads": ["later"]}, "campaign { id }"
    )
    assert errors_of(refused) == [(["conversionPayloads"], "NOT_EDITABLE")]
    assert await client.snapshot() == before
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 30
    while (figures := await rates_of(client, campaign_id))["messagesRead"] < 5:
        assert loop.time() < give_up, figures
        await asyncio.sleep(0.2)
    assert figures == {
        "messagesSent": 10,
        "messagesDelivered": 8,
        "messagesRead": 5,
        "messagesReplied": 0,
        "messagesConverted": 0,
        "replyRate": 0.0,
        "conversionRate": 0.0,
        "conversionPayloads": ["buy"],
    }

    # By the number's last four digits (a WhatsApp lead's number carries whatsapp:).
    by_n = {int(number[-4:]): node for number, node in (await leads_by(client, campaign_id))}
    assert {n: lead["status"] for n, lead in by_n.items()} == {
        **dict.fromkeys(range(5), "READ"),
        **dict.fromkeys(range(5, 8), "DELIVERED"),
        **dict.fromkeys(range(8, 10), "SENT"),
        **dict.fromkeys(range(10, 12), "NOT_RECEIVED"),
    }
    # A conversion is announced to leadUpdates subscribers (Redis pub/sub).
    redis = Redis.from_url(stack.env["CLARION_REDIS_URL"])
    pubsub = redis.pubsub()
    await pubsub.subscribe(lead_events.channel(client.account_id))
    first = await add_ltv(client, campaign_id, leadId=by_n[0]["id"])
    assert first["lead"]["id"] == by_n[0]["id"]
    assert first["lead"]["convertedAt"] is not None
    assert first["campaign"] == {"messagesConverted": 1, "conversionRate": 10.0}
    announced = await announcement(pubsub)
    assert announced == {
        "campaigns": {str(pk_of(campaign_id, "Campaign")): [pk_of(by_n[0]["id"], "Lead")]}
    }
    await pubsub.aclose()
    await redis.aclose()
    second = await add_ltv(client, campaign_id, contactPhone="+1 (415) 555-0001")
    assert second["lead"]["id"] == by_n[1]["id"]
    assert second["campaign"] == {"messagesConverted": 2, "conversionRate": 20.0}
    # Five at once for one lead: one conversion; again later: still one.
    at_once = await asyncio.gather(
        *(add_ltv(client, campaign_id, leadId=by_n[2]["id"]) for _ in range(5))
    )
    assert {p["campaign"]["messagesConverted"] for p in at_once} == {3}
    assert len({p["lead"]["convertedAt"] for p in at_once}) == 1
    again = await add_ltv(client, campaign_id, leadId=by_n[0]["id"])
    assert again["lead"]["convertedAt"] == first["lead"]["convertedAt"]
    # Revenue from a lead whose message failed is the campaign's, but no conversion.
    failed = await add_ltv(client, campaign_id, leadId=by_n[10]["id"])
    assert failed["lead"]["convertedAt"] is None
    assert failed["campaign"] == {"messagesConverted": 3, "conversionRate": 30.0}

    # Replies through the channel's inbound webhook, signed by the stand-in as Twilio does.
    inbound_url = await inbound_url_of(client, channel)
    # (In a thread: the stand-in posts to the server, which runs on this event loop.)
    reply = twilio_standin.control.reply
    for n in (0, 3, 4, 5):
        answer = await asyncio.to_thread(
            reply, by_n[n]["messageSid"], url=inbound_url, body="Thanks"
        )
        assert answer["status_code"] == 200, answer
    tap = await asyncio.to_thread(
        reply, by_n[6]["messageSid"], url=inbound_url, button_payload="buy", button_text="Buy"
    )
    assert tap["status_code"] == 200, tap
    await inbound_applied(client.server)  # answered once queued
    assert await rates_of(client, campaign_id) == {
        "messagesSent": 10,
        "messagesDelivered": 8,
        "messagesRead": 5,
        "messagesReplied": 5,
        "messagesConverted": 4,
        "replyRate": 50.0,
        "conversionRate": 40.0,
        "conversionPayloads": ["buy"],
    }
    now = await leads_by(client, campaign_id)
    converted = {int(number[-4:]) for number, node in now if node["convertedAt"]}
    assert converted == {0, 1, 2, 6}
    replied = {int(number[-4:]) for number, node in now if node["status"] == "REPLIED"}
    assert replied == {0, 3, 4, 5, 6}
    ltv = {int(number[-4:]): node["contact"]["ltv"] for number, node in now}
    assert ltv == {
        **dict.fromkeys(range(12), "0.00"),
        0: "20.00",
        1: "10.00",
        2: "50.00",
        10: "10.00",
    }
