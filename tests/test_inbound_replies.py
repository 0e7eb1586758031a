"""Replies at /hooks/twilio/inbound, end to end: campaigns sent for real (the API, a
`clarion worker` process, the Twilio stand-in in its own process), then messages posted
the way Twilio posts them, signed with the channel's token over its `inboundUrl`.

One world per module (sending is the slow part): account A with an SMS channel (40 leads
sent), a WhatsApp channel (a quick-reply campaign to +1415555 0100..0119, then a text
campaign to 0110..0119, sent after it) and account B, on another Twilio account, with an
SMS campaign to numbers A's campaign also reached (0030..0039) and its own (0200..0204).
Each test uses its own numbers."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import event, select, update

from db.enums import ChannelType, ConsentSource, ContactSource, DeliveryStatus
from db.inbound_message import InboundMessage, read_inbound
from db.models import Contact, Delivery, Reply, TwilioChannel
from db.types import utcnow
from db.usecases.replies import record_reply
from db.usecases.reply_senders import known_contacts
from graph.ids import encode_id
from jobs import inbound_queue
from jobs.inbound_queue import QueuedInbound
from tests.inbound_stack import (
    Channel,
    channel_of,
    consent_changes,
    contact_at,
    inbound,
    inbound_applied,
    lead_at,
    post_signed,
    reply_to,
    set_conversion_payloads,
    signature,
    stored_reply,
    totals,
)
from tests.messaging_guarantees_stack import whatsapp_campaign
from tests.messaging_stack import leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import FINAL_STATUSES, SendingStack, act, sending_stack, wait_until
from tests.support import GraphQLClient, pk_of
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["twilio_standin"]

QUICK_REPLY = {
    "body": "Hi {{first_name}}, want your code {{code}} now?",
    "actions": [
        {"title": "Yes please", "id": "yes-please"},
        {"title": "No thanks", "id": "no-thanks"},
    ],
}
B_SENDER = "+15005550042"


def n(i: int) -> str:
    return f"+1415555{i:04d}"


@dataclass
class World:
    stack: SendingStack
    a: GraphQLClient
    b: GraphQLClient
    sms: Channel
    wa: Channel
    b_sms: Channel
    sms_campaign: str
    quick: str  # WhatsApp quick-reply campaign, sent first
    text: str  # WhatsApp text campaign, sent after it to 0110..0119
    b_campaign: str

    def wa_from(self, i: int) -> str:
        return "whatsapp:" + n(i)


async def _sent(client: GraphQLClient, campaign_id: str) -> None:
    await act(client, "startCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL_STATUSES)
    assert done["execution"]["status"] == "COMPLETED", done


@pytest.fixture(scope="module")
async def world(
    twilio_standin: Standin, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    standin = twilio_standin
    standin.control.reset()
    data_dir: Path = tmp_path_factory.mktemp("inbound")
    async with sending_stack(data_dir) as stack:
        a = await stack.client("A")
        b = await stack.client("B")
        sms_code = await twilio_channel_for(a, standin, "SMS")
        wa_code = await twilio_channel_for(a, standin, "WHATSAPP")
        other = standin.control.create_account(senders=[B_SENDER])
        b_code = await twilio_channel_for(
            b,
            standin,
            "SMS",
            accountSid=other["account_sid"],
            authToken=other["auth_token"],
            fromNumber=B_SENDER,
        )
        sms_campaign = (await messaging_campaign(a, sms_code, leads(40)))["id"]
        quick, _ = await whatsapp_campaign(
            a,
            standin,
            wa_code,
            leads(20, 100),
            contentType="QUICK_REPLY",
            contentContext=QUICK_REPLY,
        )
        b_campaign = (await messaging_campaign(b, b_code, leads(10, 30) + leads(5, 200)))["id"]
        await set_conversion_payloads(a, quick["id"], ["yes-please"])
        await asyncio.gather(_sent(a, sms_campaign), _sent(a, quick["id"]), _sent(b, b_campaign))
        # A conversation user whose WhatsApp number is not its phone number.
        made = await a.mutate(
            "createContact",
            {"email": "kim@acme.test", "firstName": "Kim", "phone": n(300), "whatsapp": n(301)},
            "contact { id }",
        )
        assert made["userErrors"] == []
        kim = {"conversationUserId": made["contact"]["id"], "customVariables": {"code": "K1"}}
        text, _ = await whatsapp_campaign(a, standin, wa_code, [*leads(10, 110), kim], name="Later")
        await _sent(a, text["id"])
        sender = standin.senders
        sms_sender = next(s for s in sender if not s.startswith("whatsapp:"))
        wa_sender = next(s for s in sender if s.startswith("whatsapp:"))
        yield World(
            stack=stack,
            a=a,
            b=b,
            sms=await channel_of(a, sms_code, standin.auth_token, sms_sender),
            wa=await channel_of(a, wa_code, standin.auth_token, wa_sender),
            b_sms=await channel_of(b, b_code, other["auth_token"], B_SENDER),
            sms_campaign=sms_campaign,
            quick=quick["id"],
            text=text["id"],
            b_campaign=b_campaign,
        )
        for client in (a, b):
            await client.http.aclose()


def sms(world: World, i: int | str, body: str = "", **extra: str) -> dict[str, str]:
    number = n(i) if isinstance(i, int) else i
    return inbound(number, body, to=world.sms.sender, **extra)


def wa(world: World, i: int, body: str = "", **extra: str) -> dict[str, str]:
    return inbound(world.wa_from(i), body, to=world.wa.sender, ProfileName="Pat", **extra)


# --- tying a reply to its lead ---------------------------------------------------------------


async def test_a_reply_quoting_our_message_ties_to_that_lead(world: World) -> None:
    quoted = await lead_at(world.a, world.quick, n(110))
    later = await lead_at(world.a, world.text, n(110))
    before = (await totals(world.a, world.quick), await totals(world.a, world.text))
    params = wa(world, 110, "Sounds good", OriginalRepliedMessageSid=quoted["messageSid"])
    await reply_to(world.wa, params)

    # The quoted message's lead, not the later campaign's (the latest to that number).
    tied = await lead_at(world.a, world.quick, n(110))
    assert tied["status"] == "REPLIED"
    assert tied["repliedAt"] is not None
    assert tied["lastReply"]["body"] == "Sounds good"
    assert (await lead_at(world.a, world.text, n(110)))["status"] == later["status"] == "SENT"
    assert await totals(world.a, world.quick) == (before[0][0] + 1, before[0][1])
    assert await totals(world.a, world.text) == before[1]
    reply = await stored_reply(world.a, params["MessageSid"])
    assert reply is not None
    assert reply.delivery_id == pk_of(quoted["id"], "Lead")


async def test_a_reply_quoting_a_message_still_being_recorded_waits_for_it(
    world: World, twilio_standin: Standin
) -> None:
    """Twilio holds the message (and the recipient taps) before it answers the create:
    the lead is still being sent, its sid not recorded. The reply waits for it (queued
    again) and is tied to that lead, not left untied."""
    campaign, _ = await whatsapp_campaign(
        world.a, twilio_standin, world.wa.code, leads(1, 400), name="Quick tap"
    )
    twilio_standin.control.delay(3.0, count=1)  # the create's answer comes 3 s late
    await act(world.a, "startCampaign", campaign["id"])
    to = world.wa_from(400)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 30
    while not (held := await asyncio.to_thread(twilio_standin.control.messages, to)):
        assert loop.time() < give_up, "the stand-in never held the message"
        await asyncio.sleep(0.05)
    pending = await lead_at(world.a, campaign["id"], n(400))
    async with world.a.server.db.read() as session:
        row = await session.get_one(Delivery, pk_of(pending["id"], "Lead"))
        assert (row.status, row.message_id) == (DeliveryStatus.SENDING, "")  # in flight
    params = wa(world, 400, "Yes!", OriginalRepliedMessageSid=held[0]["sid"])
    await reply_to(world.wa, params)  # answered at once; applied once the sid is recorded

    lead = await lead_at(world.a, campaign["id"], n(400))
    assert lead["status"] == "REPLIED", lead
    assert lead["messageSid"] == held[0]["sid"]
    reply = await stored_reply(world.a, params["MessageSid"])
    assert reply is not None
    assert reply.delivery_id == pk_of(lead["id"], "Lead")
    done = await wait_until(world.a, campaign["id"], *FINAL_STATUSES)
    assert done["execution"]["status"] == "COMPLETED", done


async def test_a_quick_reply_ties_to_its_campaign_and_converts_once(world: World) -> None:
    before = await totals(world.a, world.quick)
    tap = wa(world, 111, "Yes please", ButtonPayload="yes-please", ButtonText="Yes please")
    await reply_to(world.wa, tap)
    lead = await lead_at(world.a, world.quick, n(111))
    assert lead["status"] == "REPLIED"
    assert lead["lastReply"]["buttonPayload"] == "yes-please"
    assert lead["lastReply"]["buttonText"] == "Yes please"
    # The later text campaign's lead to the same number is not the one tapped.
    assert (await lead_at(world.a, world.text, n(111)))["status"] == "SENT"
    assert await totals(world.a, world.quick) == (before[0] + 1, before[1] + 1)
    async with world.a.server.db.read() as session:
        converted = await session.scalar(
            select(Delivery.converted_at).where(Delivery.id == pk_of(lead["id"], "Lead"))
        )
    assert converted is not None

    # Tapped again: kept, but replied and converted once.
    again = wa(world, 111, "Yes please", ButtonPayload="yes-please", ButtonText="Yes please")
    await reply_to(world.wa, again)
    assert await totals(world.a, world.quick) == (before[0] + 1, before[1] + 1)
    assert (await lead_at(world.a, world.quick, n(111)))["repliedAt"] == lead["repliedAt"]
    assert await stored_reply(world.a, again["MessageSid"]) is not None


async def test_a_quick_reply_the_campaign_does_not_name_as_conversion(world: World) -> None:
    before = await totals(world.a, world.quick)
    await reply_to(world.wa, wa(world, 112, "No thanks", ButtonPayload="no-thanks"))
    assert (await lead_at(world.a, world.quick, n(112)))["status"] == "REPLIED"
    assert await totals(world.a, world.quick) == (before[0] + 1, before[1])


async def test_a_plain_reply_ties_to_the_latest_message_in_the_window(world: World) -> None:
    before = await totals(world.a, world.text)
    await reply_to(world.wa, wa(world, 113, "What is this?"))
    assert (await lead_at(world.a, world.text, n(113)))["status"] == "REPLIED"
    assert (await lead_at(world.a, world.quick, n(113)))["status"] == "SENT"
    assert await totals(world.a, world.text) == (before[0] + 1, before[1])


async def test_a_button_no_campaign_has_falls_back_to_the_latest(world: World) -> None:
    await reply_to(world.wa, wa(world, 114, "?", ButtonPayload="not-ours"))
    assert (await lead_at(world.a, world.text, n(114)))["status"] == "REPLIED"
    assert (await lead_at(world.a, world.quick, n(114)))["status"] == "SENT"


async def test_a_reply_after_the_window_is_kept_untied(world: World) -> None:
    lead = await lead_at(world.a, world.sms_campaign, n(1))
    async with world.a.server.db.write() as session:
        sent_at = await session.scalar(
            select(Delivery.sent_at).where(Delivery.id == pk_of(lead["id"], "Lead"))
        )
        assert sent_at is not None
        await session.execute(
            update(Delivery)
            .where(Delivery.id == pk_of(lead["id"], "Lead"))
            .values(sent_at=sent_at - timedelta(days=7, minutes=1))
        )
    before = await totals(world.a, world.sms_campaign)
    params = sms(world, 1, "Who is this?")
    await reply_to(world.sms, params)
    assert (await lead_at(world.a, world.sms_campaign, n(1)))["status"] == "SENT"
    assert await totals(world.a, world.sms_campaign) == before
    reply = await stored_reply(world.a, params["MessageSid"])
    contact = await contact_at(world.a, n(1))
    assert reply is not None
    assert contact is not None
    assert (reply.delivery_id, reply.contact_id, reply.body) == (None, contact.id, "Who is this?")


async def test_a_reply_from_a_contacts_whatsapp_number_ties_to_its_lead(world: World) -> None:
    before = await totals(world.a, world.text)
    params = wa(world, 301, "Kim here")
    await reply_to(world.wa, params)
    assert (await lead_at(world.a, world.text, n(301)))["status"] == "REPLIED"
    assert await totals(world.a, world.text) == (before[0] + 1, before[1])
    reply = await stored_reply(world.a, params["MessageSid"])
    kim = await contact_at(world.a, n(300))
    assert reply is not None
    assert kim is not None
    assert reply.contact_id == kim.id
    assert await contact_at(world.a, n(301)) is None  # no contact made for the number


async def test_the_senders_contacts_are_its_phones_then_those_with_its_whatsapp(
    world: World,
) -> None:
    number = "+14155559981"
    async with world.a.server.db.write() as session:
        made = []
        for phone, whatsapp in [
            ("+14155559982", number),  # shares the number as its WhatsApp
            (number, number),  # the number's own contact, the same on WhatsApp
            ("+14155559983", number),
            ("+14155559984", "+14155559985"),  # another number altogether
        ]:
            contact = Contact(account_id=world.a.account_id, phone=phone, whatsapp=whatsapp)
            session.add(contact)
            await session.flush()
            made.append(contact.id)
    shared_first, own, shared_second, _ = made

    def message(whatsapp: bool) -> InboundMessage:
        return InboundMessage("SM" + "e" * 32, number, whatsapp, "hi", "", "", (), "", "", "")

    async with world.a.server.db.read() as session:
        on_whatsapp = await known_contacts(session, world.a.account_id, message(True))
        on_sms = await known_contacts(session, world.a.account_id, message(False))
    assert on_whatsapp == [own, shared_first, shared_second]
    assert on_sms == [own]


async def test_a_stranger_becomes_a_contact(world: World) -> None:
    params = inbound("whatsapp:+14155559991", "Hello?", to=world.wa.sender, ProfileName="Zoë")
    await reply_to(world.wa, params)
    contact = await contact_at(world.a, "+14155559991")
    assert contact is not None
    assert (contact.first_name, contact.email, contact.source) == ("Zoë", None, ContactSource.LEAD)
    assert (contact.consent_sms, contact.consent_whatsapp) == (True, True)
    reply = await stored_reply(world.a, params["MessageSid"])
    assert reply is not None
    assert (reply.contact_id, reply.delivery_id) == (contact.id, None)
    # Again, from the same number: the same contact.
    await reply_to(world.wa, inbound("whatsapp:+14155559991", "Anyone?", to=world.wa.sender))
    async with world.a.server.db.read() as session:
        kept = (
            await session.scalars(select(Reply.contact_id).where(Reply.contact_id == contact.id))
        ).all()
    assert len(kept) == 2
    # A stranger on SMS has no profile name: an unnamed phone-only contact.
    await reply_to(world.sms, sms(world, "+14155559990", "hi"))
    stranger = await contact_at(world.a, "+14155559990")
    assert stranger is not None
    assert stranger.first_name == ""


# --- kept once, replied once -----------------------------------------------------------------


async def test_the_same_message_posted_twice_is_kept_once(world: World) -> None:
    before = await totals(world.a, world.sms_campaign)
    params = sms(world, 2, "Twice")
    await reply_to(world.sms, params)
    after_one = await world.a.snapshot()
    await reply_to(world.sms, params)  # Twilio's retry: the same MessageSid
    assert await world.a.snapshot() == after_one
    assert await totals(world.a, world.sms_campaign) == (before[0] + 1, before[1])
    async with world.a.server.db.read() as session:
        kept = (
            await session.scalars(select(Reply.id).where(Reply.message_sid == params["MessageSid"]))
        ).all()
    assert len(kept) == 1


async def test_a_lead_is_replied_once_and_lists_every_reply(world: World) -> None:
    before = await totals(world.a, world.sms_campaign)
    await reply_to(world.sms, sms(world, 0, "First"))
    first = await lead_at(world.a, world.sms_campaign, n(0))
    await reply_to(world.sms, sms(world, 0, "Second"))
    await reply_to(
        world.sms, sms(world, 0, "Third", NumMedia="1", MediaUrl0="https://api.twilio.com/m/ME1")
    )
    lead = await lead_at(world.a, world.sms_campaign, n(0))
    assert (lead["status"], lead["repliedAt"]) == ("REPLIED", first["repliedAt"])
    assert await totals(world.a, world.sms_campaign) == (before[0] + 1, before[1])
    assert lead["lastReply"]["body"] == "Third"
    assert lead["lastReply"]["mediaUrls"] == ["https://api.twilio.com/m/ME1"]
    # Newest first, two a page.
    query = (
        "query($id: ID!, $after: String) { node(id: $id) { ... on Lead { replies(first: 2, "
        "after: $after) { totalCount edges { node { body isOptOut optOutKeyword } } "
        "pageInfo { hasNextPage endCursor } } } } }"
    )
    page = (await world.a.gql(query, {"id": lead["id"]}))["node"]["replies"]
    assert page["totalCount"] == 3
    assert [e["node"]["body"] for e in page["edges"]] == ["Third", "Second"]
    assert page["edges"][0]["node"] == {"body": "Third", "isOptOut": False, "optOutKeyword": None}
    after = page["pageInfo"]["endCursor"]
    rest = (await world.a.gql(query, {"id": lead["id"], "after": after}))["node"]["replies"]
    assert [e["node"]["body"] for e in rest["edges"]] == ["First"]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_last_reply_for_a_page_of_leads(world: World) -> None:
    data = await world.a.gql(
        "query($id: ID!) { campaign(id: $id) { leads(first: 100) { edges { node { "
        "phoneNumber lastReply { body } } } } } }",
        {"id": world.sms_campaign},
    )
    last = {
        e["node"]["phoneNumber"]: e["node"]["lastReply"] for e in data["campaign"]["leads"]["edges"]
    }
    assert len(last) == 40
    await reply_to(world.sms, sms(world, 25, "Five"))
    await reply_to(world.sms, sms(world, 26, "Six"))
    data = await world.a.gql(
        "query($id: ID!) { campaign(id: $id) { leads(first: 100) { edges { node { "
        "phoneNumber lastReply { body } } } } } }",
        {"id": world.sms_campaign},
    )
    now = {
        e["node"]["phoneNumber"]: e["node"]["lastReply"] for e in data["campaign"]["leads"]["edges"]
    }
    assert (now[n(25)], now[n(26)]) == ({"body": "Five"}, {"body": "Six"})
    assert {k: v for k, v in now.items() if k not in (n(25), n(26))} == {
        k: v for k, v in last.items() if k not in (n(25), n(26))
    }


# --- consent keywords ------------------------------------------------------------------------

STOP_VARIANTS = [
    ("STOP", {}),
    ("stop", {}),
    ("  Stop \n", {}),
    ("STOPALL", {}),
    ("unsubscribe", {}),
    ("Cancel", {}),
    ("END", {}),
    ("quit", {}),
    ("REVOKE", {}),
    ("OptOut", {}),
    ("ARRET", {"OptOutType": "STOP"}),  # a custom keyword of Twilio's Advanced Opt-Out
]


@pytest.mark.parametrize(("index", "variant"), list(enumerate(STOP_VARIANTS)))
async def test_stop_withdraws_consent_and_is_not_a_reply(
    world: World, index: int, variant: tuple[str, dict[str, str]]
) -> None:
    body, extra = variant
    number = n(3 + index)
    before = await totals(world.a, world.sms_campaign)
    params = sms(world, number, body, **extra)
    await reply_to(world.sms, params)

    contact = await contact_at(world.a, number)
    assert contact is not None
    assert (contact.consent_sms, contact.consent_whatsapp) == (False, True)
    reply = await stored_reply(world.a, params["MessageSid"])
    assert reply is not None
    assert reply.opt_out == "stop"
    changes = await consent_changes(world.a, contact.id)
    assert [(c.channel_type.value, c.granted, c.source, c.reply_id) for c in changes] == [
        ("sms", False, ConsentSource.KEYWORD, reply.id)
    ]
    assert changes[0].reason.startswith("Texted ")
    assert changes[0].created_at is not None
    lead = await lead_at(world.a, world.sms_campaign, number)
    assert (lead["status"], lead["repliedAt"]) == ("SENT", None)
    assert lead["lastReply"]["isOptOut"] is True
    assert lead["lastReply"]["optOutKeyword"] == "STOP"
    assert await totals(world.a, world.sms_campaign) == before


async def test_stop_in_a_sentence_is_an_ordinary_reply(world: World) -> None:
    await reply_to(world.sms, sms(world, 14, "Stop please, I moved"))
    contact = await contact_at(world.a, n(14))
    assert contact is not None
    assert contact.consent_sms is True
    assert await consent_changes(world.a, contact.id) == []
    assert (await lead_at(world.a, world.sms_campaign, n(14)))["status"] == "REPLIED"


@pytest.mark.parametrize(
    ("i", "word", "extra"),
    [(15, "START", {}), (16, "yes", {}), (17, "Unstop", {}), (21, "Go", {"OptOutType": "START"})],
)
async def test_start_yes_unstop_give_consent_back(
    world: World, i: int, word: str, extra: dict[str, str]
) -> None:
    before = await totals(world.a, world.sms_campaign)
    await reply_to(world.sms, sms(world, i, "STOP"))
    await reply_to(world.sms, sms(world, i, word, **extra))
    contact = await contact_at(world.a, n(i))
    assert contact is not None
    assert contact.consent_sms is True
    changes = await consent_changes(world.a, contact.id)
    assert [(c.granted, c.source) for c in changes] == [
        (False, ConsentSource.KEYWORD),
        (True, ConsentSource.KEYWORD),
    ]
    lead = await lead_at(world.a, world.sms_campaign, n(i))
    assert (lead["status"], lead["lastReply"]["optOutKeyword"]) == ("SENT", "START")
    assert await totals(world.a, world.sms_campaign) == before


async def test_help_is_kept_and_changes_nothing(world: World) -> None:
    before = await totals(world.a, world.sms_campaign)
    await reply_to(world.sms, sms(world, 18, "help"))
    contact = await contact_at(world.a, n(18))
    assert contact is not None
    assert contact.consent_sms is True
    assert await consent_changes(world.a, contact.id) == []
    lead = await lead_at(world.a, world.sms_campaign, n(18))
    assert (lead["status"], lead["lastReply"]["optOutKeyword"]) == ("SENT", "HELP")
    assert await totals(world.a, world.sms_campaign) == before


async def test_whatsapp_stop_promotions_withdraws_whatsapp_consent(world: World) -> None:
    before = await totals(world.a, world.text)
    tap = wa(
        world, 115, "Stop promotions", ButtonText="Stop promotions", ButtonPayload="Stop promotions"
    )
    await reply_to(world.wa, tap)
    contact = await contact_at(world.a, n(115))
    assert contact is not None
    assert (contact.consent_whatsapp, contact.consent_sms) == (False, True)
    [change] = await consent_changes(world.a, contact.id)
    assert (change.channel_type.value, change.granted) == ("whatsapp", False)
    assert "Stop promotions" in change.reason
    assert (await lead_at(world.a, world.text, n(115)))["status"] == "SENT"
    assert await totals(world.a, world.text) == before


async def test_whatsapp_yes_and_help_are_replies_and_start_gives_consent_back(
    world: World,
) -> None:
    await reply_to(world.wa, wa(world, 118, "Help"))
    assert (await lead_at(world.a, world.text, n(118)))["status"] == "REPLIED"
    await reply_to(world.wa, wa(world, 116, "YES"))
    contact = await contact_at(world.a, n(116))
    assert contact is not None
    assert contact.consent_whatsapp is True
    assert (await lead_at(world.a, world.text, n(116)))["status"] == "REPLIED"

    await reply_to(world.wa, wa(world, 117, "stop"))
    await reply_to(world.wa, wa(world, 117, "START"))
    contact = await contact_at(world.a, n(117))
    assert contact is not None
    assert contact.consent_whatsapp is True
    assert [c.granted for c in await consent_changes(world.a, contact.id)] == [False, True]


# --- hostile input ---------------------------------------------------------------------------


async def test_control_characters_and_sizes_are_cleaned(world: World) -> None:
    media = {f"MediaUrl{i}": f"https://api.twilio.com/m/ME{i}" for i in range(50)}
    media["MediaUrl3"] = "javascript:alert(1)"
    params = sms(
        world,
        19,
        "a\x00b\x07c\r\nd\te\u2028f" + "x" * 10_000,
        NumMedia="50",
        ButtonPayload="p" * 5_000,
        ButtonText="t\x00" * 400,
        ProfileName="Eve\nAdmin",
        **media,
    )
    await reply_to(world.sms, params)
    reply = await stored_reply(world.a, params["MessageSid"])
    assert reply is not None
    assert reply.body.startswith("abc\nd\tef")
    assert len(reply.body) == 4_096
    assert reply.button_payload == "p" * 255
    assert reply.button_text == "t" * 255
    assert reply.media_urls == [f"https://api.twilio.com/m/ME{i}" for i in range(10) if i != 3]
    lead = await lead_at(world.a, world.sms_campaign, n(19))
    assert lead["status"] == "REPLIED"
    assert len(lead["lastReply"]["body"]) == 4_096


@pytest.mark.parametrize(
    "changes",
    [
        {"From": "Twilio"},  # an alphanumeric sender: no number to keep it for
        {"From": "12345"},  # a short code
        {"From": ""},
        {"From": "whatsapp:" + "9" * 40},
        {"MessageSid": ""},
        {"MessageSid": "SM' OR 1=1 --"},
    ],
)
async def test_a_message_clarion_cannot_keep_is_answered_and_changes_nothing(
    world: World, changes: dict[str, str]
) -> None:
    params = sms(world, 20, "hello") | changes
    before = await world.a.snapshot()
    await reply_to(world.sms, params)
    assert await world.a.snapshot() == before


async def test_a_huge_number_of_media_or_a_bad_count_is_no_error(world: World) -> None:
    for count in ("99999999999999999999", "-1", "ten", "1e3"):
        params = sms(world, 22, "m", NumMedia=count, MediaUrl0="https://api.twilio.com/m/ME0")
        await reply_to(world.sms, params)
        reply = await stored_reply(world.a, params["MessageSid"])
        assert reply is not None
        assert reply.media_urls == []


# --- signatures and isolation ----------------------------------------------------------------


async def test_forged_and_foreign_requests_are_refused_and_change_nothing(world: World) -> None:
    params = sms(world, 23, "STOP")
    url = world.sms.inbound_url
    bare = url.split("?")[0]
    before_a, before_b = await world.a.snapshot(), await world.b.snapshot()
    tampered = params | {"MessageSid": "SM" + "f" * 32, "Body": "START"}
    path = url.removeprefix(world.a.server.settings.public_url)
    async with httpx.AsyncClient(base_url=world.a.server.url) as http:
        # Signed over the genuine parameters, posted with others.
        after_signing = await http.post(
            path,
            data=tampered,
            headers={"X-Twilio-Signature": signature(world.sms.token, url, params)},
        )
    attempts = [
        await post_signed(world.sms, params, header=""),  # unsigned
        await post_signed(world.sms, params, header="c2lnbmF0dXJl"),  # forged
        await post_signed(world.sms, params, token=world.b_sms.token),  # B's Twilio token
        await post_signed(world.b_sms, params, posted_url=url),  # B's channel's own signature
        # Signed for A's SMS channel, posted naming A's WhatsApp channel (same token: the
        # query string is signed too).
        await post_signed(
            world.sms, params, signed_url=url, posted_url=f"{bare}?channel={world.wa.pk}"
        ),
        await post_signed(world.sms, params, posted_url=f"{bare}?channel=999999999"),
        await post_signed(world.sms, params, posted_url=f"{bare}?channel=x"),
        await post_signed(world.sms, params, posted_url=f"{bare}?channel=1e3"),
        await post_signed(world.sms, params, posted_url=bare),
        after_signing,
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert await world.a.snapshot() == before_a
    assert await world.b.snapshot() == before_b

    # The same parameters, genuinely signed: taken (the refusals were the signatures').
    await reply_to(world.sms, params)
    contact = await contact_at(world.a, n(23))
    assert contact is not None
    assert contact.consent_sms is False
    assert len(await consent_changes(world.a, contact.id)) == 1
    assert await world.b.snapshot() == before_b


async def test_a_reply_on_one_accounts_channel_never_reaches_anothers_lead(world: World) -> None:
    b_lead = await lead_at(world.b, world.b_campaign, n(30))
    before_b = await world.b.snapshot()
    # From a number both accounts messaged, quoting B's message: A's own lead, not B's.
    params = sms(world, 30, "Hi", OriginalRepliedMessageSid=b_lead["messageSid"])
    await reply_to(world.sms, params)
    assert (await lead_at(world.a, world.sms_campaign, n(30)))["status"] == "REPLIED"
    # From a number only B messaged: a stranger to A.
    await reply_to(world.sms, sms(world, 200, "Hello"))
    stranger = await contact_at(world.a, n(200))
    assert stranger is not None
    assert stranger.source is ContactSource.LEAD
    # STOP on A's channel from a number B also knows: A's contact only.
    await reply_to(world.sms, sms(world, 31, "STOP"))
    assert await world.b.snapshot() == before_b
    b_contact = await contact_at(world.b, n(31))
    assert b_contact is not None
    assert b_contact.consent_sms is True
    # B's reply nodes are not A's.
    async with world.a.server.db.read() as session:
        reply_id = await session.scalar(
            select(Reply.id).where(Reply.message_sid == params["MessageSid"])
        )

    query = "query($id: ID!) { node(id: $id) { id } }"
    assert (await world.b.gql(query, {"id": encode_id("Reply", reply_id or 0)}))["node"] is None
    assert (await world.a.gql(query, {"id": encode_id("Reply", reply_id or 0)}))["node"] is not None


# --- announced after the commit --------------------------------------------------------------


async def test_a_reply_is_announced_to_lead_subscribers(world: World) -> None:
    redis = Redis.from_url(world.stack.env["CLARION_REDIS_URL"])
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"clarion:leads:{world.a.account_id}")
    try:
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        await reply_to(world.sms, sms(world, 24, "Ping"))
        lead = await lead_at(world.a, world.sms_campaign, n(24))
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message:
                break
        assert message is not None
        campaign = str(pk_of(world.sms_campaign, "Campaign"))
        assert json.loads(message["data"]) == {"campaigns": {campaign: [pk_of(lead["id"], "Lead")]}}
    finally:
        await pubsub.aclose()
        await redis.aclose()


# --- STOP during a run -----------------------------------------------------------------------


async def test_stop_during_a_running_campaign_means_nothing_more_is_sent(
    world: World, twilio_standin: Standin
) -> None:
    slow = await twilio_channel_for(world.a, twilio_standin, "SMS", code="slow", rateLimit=1)
    # The contact who texts STOP is the run's last lead: still pending when it does.
    campaign = (await messaging_campaign(world.a, slow, leads(5, 33) + leads(1, 27)))["id"]
    await act(world.a, "startCampaign", campaign)
    await reply_to(world.sms, sms(world, 27, "STOP"))
    assert (await lead_at(world.a, campaign, n(27)))["status"] == "OPTED_OUT"
    done = await wait_until(world.a, campaign, *FINAL_STATUSES)
    assert done["execution"]["status"] == "COMPLETED"
    assert (await lead_at(world.a, campaign, n(27)))["status"] == "OPTED_OUT"
    # The one message it ever got is the first campaign's.
    assert len(twilio_standin.control.messages(to=n(27))) == 1
    assert len(twilio_standin.control.messages(to=n(33))) == 2


# --- concurrent posts ------------------------------------------------------------------------


async def test_concurrent_posts_keep_one_message_once_and_reply_a_lead_once(world: World) -> None:
    before = await totals(world.a, world.sms_campaign)
    same = sms(world, 28, "Again and again")
    await asyncio.gather(*(reply_to(world.sms, same) for _ in range(6)))
    async with world.a.server.db.read() as session:
        kept = (
            await session.scalars(select(Reply.id).where(Reply.message_sid == same["MessageSid"]))
        ).all()
    assert len(kept) == 1
    # Different messages at once from one lead: each kept, the lead replied once.
    others = [sms(world, 29, f"Message {i}") for i in range(6)]
    await asyncio.gather(*(reply_to(world.sms, params) for params in others))
    assert await totals(world.a, world.sms_campaign) == (before[0] + 2, before[1])
    lead = await lead_at(world.a, world.sms_campaign, n(29))
    query = "query($id: ID!) { node(id: $id) { ... on Lead { replies { totalCount } } } }"
    assert (await world.a.gql(query, {"id": lead["id"]}))["node"]["replies"]["totalCount"] == 6
    # A stranger's first messages at once: one contact.
    strangers = [sms(world, "+14155559980", f"Hi {i}") for i in range(4)]
    await asyncio.gather(*(reply_to(world.sms, params) for params in strangers))
    async with world.a.server.db.read() as session:
        contacts = (
            await session.scalars(
                select(Reply.contact_id).where(
                    Reply.message_sid.in_([p["MessageSid"] for p in strangers])
                )
            )
        ).all()
    assert len(contacts) == 4
    assert len(set(contacts)) == 1


async def test_a_message_that_cannot_be_applied_holds_back_none_popped_with_it(
    world: World,
) -> None:
    """A worker applies the messages it pops together in one transaction. When one of them
    cannot be applied (here: queued for a channel that does not exist), the others are
    applied one at a time, and that one alone is tried again, then dropped, changing
    nothing."""
    server = world.a.server
    async with server.db.read() as session:
        account_id = await session.scalar(
            select(TwilioChannel.account_id).where(TwilioChannel.id == world.sms.pk)
        )
    assert account_id is not None

    def queued(params: dict[str, str], channel_id: int) -> QueuedInbound:
        message = read_inbound(params)
        assert message is not None
        return QueuedInbound(account_id, channel_id, ChannelType.SMS, message, time.time())

    good = [queued(sms(world, f"+141555599{70 + i}", f"Batch {i}"), world.sms.pk) for i in range(3)]
    lost = queued(sms(world, "+14155559979", "Nowhere"), 999_999)
    assert server.settings.redis_url is not None
    redis = Redis.from_url(server.settings.redis_url)
    try:  # one push: one list, popped together
        await inbound_queue.push(redis, [good[0], lost, good[1], good[2]])
    finally:
        await redis.aclose()
    await inbound_applied(server)

    sids = [item.message.message_sid for item in [*good, lost]]
    async with server.db.read() as session:
        kept = (
            await session.execute(
                select(Reply.message_sid, Reply.body).where(Reply.message_sid.in_(sids))
            )
        ).all()
        stranger = await session.scalar(select(Contact.id).where(Contact.phone == "+14155559979"))
    assert sorted(kept) == sorted((item.message.message_sid, item.message.body) for item in good)
    assert stranger is None


class _Undo(Exception):
    """Rolls a test's transaction back."""


# The tables that grow with an account's audience: a reply must never read them through.
_LARGE_TABLES = ("contacts", "deliveries", "replies")


def _reads_through(detail: str) -> bool:
    """Whether a step of SQLite's query plan reads a large table whole, or all of an
    account's rows in it (a search by the account alone)."""
    words = detail.split()
    if len(words) < 2 or words[0] not in ("SCAN", "SEARCH") or words[1] not in _LARGE_TABLES:
        return False
    return words[0] == "SCAN" or detail.endswith("(account_id=?)")


async def test_applying_a_reply_reads_a_few_rows_however_large_the_account(
    world: World,
) -> None:
    """Each statement that keeps and ties a reply finds its rows by an index on what the
    reply names (its sid, the sender's number, their contacts and leads): none reads the
    account's contacts, leads or replies through. A search by account alone was how a
    WhatsApp reply looked up its sender's contacts, a scan of every contact per reply."""
    db = world.a.server.db
    if db.engine.dialect.name != "sqlite":
        pytest.skip("reads SQLite's query plans")
    async with db.read() as session:
        account_id = await session.scalar(
            select(TwilioChannel.account_id).where(TwilioChannel.id == world.wa.pk)
        )
    assert account_id is not None
    statements: list[tuple[str, Any]] = []

    def capture(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not many and not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    messages = [
        wa(world, 105, "A plain reply"),  # a lead's: tied to its latest message
        wa(world, 301, "Kim here"),  # a contact's WhatsApp number, not its phone
        wa(world, 9971, "Who is this?"),  # a stranger: becomes a contact
        {**wa(world, 106, "Yes"), "ButtonPayload": "yes-please"},
    ]
    plans: dict[str, list[str]] = {}

    async def record_and_explain() -> None:
        async with db.write() as session:
            for params in messages:
                message = read_inbound(params)
                assert message is not None
                await record_reply(
                    session,
                    account_id,
                    world.wa.pk,
                    ChannelType.WHATSAPP,
                    message,
                    now=utcnow(),
                    window=timedelta(days=7),
                )
            connection = await session.connection()
            for statement, parameters in statements:
                rows = await connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                )
                plans[statement] = [row[-1] for row in rows]
            raise _Undo

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        with pytest.raises(_Undo):
            await record_and_explain()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    assert len(plans) >= 5  # the lookups, the reply, the lead and its counters
    through = {s: p for s, p in plans.items() if any(_reads_through(step) for step in p)}
    assert through == {}


async def test_a_body_that_is_not_twilios_form_is_refused(world: World) -> None:

    before = await world.a.snapshot()
    url = world.sms.inbound_url
    path = url.removeprefix(world.a.server.settings.public_url)
    params = sms(world, 23, "hi")
    many = params | {f"Extra{i}": "x" for i in range(250)}
    sent = []
    async with httpx.AsyncClient(base_url=world.a.server.url) as http:
        sig = {"X-Twilio-Signature": signature(world.sms.token, url, params)}
        # Not UTF-8, JSON, multipart, a repeated name, more fields than Twilio sends.
        form = {"content-type": "application/x-www-form-urlencoded"}
        sent.append(await http.post(path, content=b"Body=%FF%FE&From=%2B1", headers=sig | form))
        sent.append(await http.post(path, json=params, headers=sig))
        sent.append(await http.post(path, files={"Body": ("a.txt", b"x")}, headers=sig))
        sent.append(await http.post(path, content=b"Body=a&Body=b", headers=sig | form))
        many_sig = {"X-Twilio-Signature": signature(world.sms.token, url, many)}
        sent.append(await http.post(path, data=many, headers=many_sig))
        sent.append(await http.get(path))
    assert [r.status_code for r in sent] == [403, 403, 403, 403, 403, 405]
    assert await world.a.snapshot() == before
