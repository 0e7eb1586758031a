"""Twilio's status callbacks at /hooks/twilio/status, end to end: a `clarion worker` sends a
campaign to the Twilio stand-in, the test posts callbacks signed as Twilio signs them over
each message's StatusCallback URL, and reads the leads and the execution through the API.

A lead only moves forward, a repeat changes nothing, a failure is terminal, and the
counters are exact whatever the order; anything not signed for its channel is refused
with 403 and changes nothing; a callback that beats the worker's record of the sid is kept
and applied when the sid is recorded; the catch-up job settles leads whose callbacks were
never sent."""

import asyncio
import itertools
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from db.enums import ConsentSource
from db.models import (
    CampaignExecution,
    ConsentChange,
    Contact,
    Delivery,
    EarlyStatus,
    TwilioChannel,
)
from tests.messaging_stack import leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, act, sending_stack, stack, wait_until
from tests.status_hooks import (
    callback_params,
    callbacks_applied,
    eventually,
    feedback,
    post_signed,
    queue_counts,
    sent_campaign,
    signature,
    totals,
)
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]

Step = tuple[str, int | None]
FAILURES = {"failed", "undelivered", "canceled"}

# (callbacks in the order they arrive, lead status, delivered, read, error code)
ORDERS: list[tuple[list[Step], str, bool, bool, str | None]] = [
    ([("sent", None), ("delivered", None), ("read", None)], "READ", True, True, None),
    ([("read", None), ("delivered", None), ("sent", None)], "READ", True, True, None),
    ([("delivered", None)] * 3, "DELIVERED", True, False, None),
    ([("sent", None), ("sent", None)], "SENT", False, False, None),
    ([("failed", 30008)], "NOT_RECEIVED", False, False, "30008"),
    ([("undelivered", 30005), ("delivered", None), ("read", None)], "NOT_RECEIVED", False, False,
     "30005"),
    ([("delivered", None), ("undelivered", 30005)], "DELIVERED", True, False, None),
    ([("read", None), ("failed", 30008)], "READ", True, True, None),
    ([("undelivered", 30003), ("undelivered", 30003)], "NOT_RECEIVED", False, False, "30003"),
    ([("undelivered", 30003), ("failed", 30007)], "NOT_RECEIVED", False, False, "30003"),
    ([("canceled", None)], "NOT_RECEIVED", False, False, None),
    ([("delivered", None), ("read", None), ("read", None), ("delivered", None)], "READ", True,
     True, None),
]  # fmt: skip
# Every order of the five statuses, each sent twice in a row (a retry of Twilio's).
PERMUTATIONS = [
    [step for step in order for _ in range(2)]
    for order in itertools.permutations(
        [("sent", None), ("delivered", None), ("read", None), ("failed", 30008),
         ("undelivered", 30005)]
    )
]  # fmt: skip


def expected(steps: list[Step]) -> tuple[str, bool, bool, str | None]:
    """The rule, step by step: delivered and read only add; a failure counts only while the
    lead is merely sent, and nothing changes it after."""
    delivered = read = failed = False
    code: str | None = None
    for status, error in steps:
        if status in ("delivered", "read") and not failed:
            delivered = True
            read = read or status == "read"
        elif status in FAILURES and not (failed or delivered or read):
            failed, code = True, str(error) if error else None
    if failed:
        return "NOT_RECEIVED", False, False, code
    return ("READ" if read else "DELIVERED" if delivered else "SENT"), delivered, read, None


async def test_every_order_and_repeat_moves_a_lead_only_forward_and_counts_once(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    for steps, status, delivered, read, code in ORDERS:  # the table and the rule agree
        assert expected(steps) == (status, delivered, read, code), steps
    twilio_standin.control.reset()
    client = await stack.client()
    plans = [steps for steps, *_ in ORDERS] + PERMUTATIONS
    campaign_id, messages = await sent_campaign(stack, twilio_standin, client, len(plans))
    token = twilio_standin.auth_token

    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30) as http:

        async def play(message: dict[str, Any], steps: list[Step]) -> None:
            url = message["standin"]["status_callback"]
            for status, error in steps:
                answer = await post_signed(
                    http, token, url, callback_params(message["sid"], status, error)
                )
                assert answer.status_code == 200, answer.text
                assert answer.text.endswith("<Response/>")

        await asyncio.gather(*(play(m, s) for m, s in zip(messages, plans, strict=True)))
        await callbacks_applied(stack)
        # The same callbacks again, all at once: nothing changes.
        before = await client.snapshot()
        await asyncio.gather(*(play(m, s) for m, s in zip(messages, plans, strict=True)))
        await callbacks_applied(stack)
        assert await client.snapshot() == before
        # A progress status changes no lead: answered, and not even queued.
        queued, _ = await queue_counts(stack)
        await asyncio.gather(*(play(m, [("queued", None), ("sent", None)]) for m in messages))
        assert (await queue_counts(stack))[0] == queued
        assert await client.snapshot() == before

    leads_by_sid = await feedback(client, campaign_id)
    for message, steps in zip(messages, plans, strict=True):
        lead = leads_by_sid[message["sid"]]
        status, delivered, read, code = expected(steps)
        assert (lead["status"], lead["deliveredAt"] is not None, lead["readAt"] is not None) == (
            status,
            delivered,
            read,
        ), (steps, lead)
        assert lead["errorCode"] == code, (steps, lead)
        if status == "NOT_RECEIVED":
            assert lead["errorMessage"], lead
    outcomes = [expected(steps) for steps in plans]
    failed = sum(1 for o in outcomes if o[0] == "NOT_RECEIVED")
    assert await totals(client, campaign_id) == {
        "totalSent": len(plans) - failed,
        "totalFailed": failed,
        "totalDelivered": sum(1 for o in outcomes if o[1]),
    }
    async with stack.server.db.read() as session:
        total_read = await session.scalar(select(CampaignExecution.total_read))
    assert total_read == sum(1 for o in outcomes if o[2])


async def test_an_opt_out_error_in_a_callback_withdraws_consent_once(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    campaign_id, messages = await sent_campaign(stack, twilio_standin, client, 2)
    token = twilio_standin.auth_token
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30) as http:
        for _ in range(2):  # the second is a repeat: changes nothing
            answer = await post_signed(
                http,
                token,
                messages[0]["standin"]["status_callback"],
                callback_params(messages[0]["sid"], "undelivered", 21610),
            )
            assert answer.status_code == 200
    await callbacks_applied(stack)
    lead = (await feedback(client, campaign_id))[messages[0]["sid"]]
    assert (lead["status"], lead["errorCode"]) == ("NOT_RECEIVED", "21610")
    async with stack.server.db.read() as session:
        changes = (await session.execute(select(ConsentChange))).scalars().all()
        consent = dict((await session.execute(select(Contact.phone, Contact.consent_sms))).all())
    assert [(c.granted, c.source, c.delivery_id is not None) for c in changes] == [
        (False, ConsentSource.PROVIDER, True)
    ]
    assert "21610" in changes[0].reason
    assert consent == {"+14155550000": False, "+14155550001": True}
    assert (await totals(client, campaign_id))["totalFailed"] == 1


async def test_callbacks_not_signed_for_their_channel_are_refused_and_change_nothing(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    campaign_id, messages = await sent_campaign(stack, twilio_standin, client, 1)
    sid, url = messages[0]["sid"], messages[0]["standin"]["status_callback"]
    token = twilio_standin.auth_token
    path = url.removeprefix(stack.server.settings.public_url)

    # Another account of Clarion with a channel on another Twilio account.
    other_twilio = twilio_standin.control.create_account()
    other = await stack.client("Other")
    other_code = await twilio_channel_for(
        other,
        twilio_standin,
        "SMS",
        accountSid=other_twilio["account_sid"],
        authToken=other_twilio["auth_token"],
    )
    assert other_code

    delivered = callback_params(sid, "delivered")
    before, other_before = await client.snapshot(), await other.snapshot()
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30) as http:
        refused: list[httpx.Response] = [
            # unsigned
            await http.post(path, data=delivered),
            # forged
            await http.post(path, data=delivered, headers={"X-Twilio-Signature": "AAAA"}),
            # signed with another Twilio account's token
            await post_signed(http, other_twilio["auth_token"], url, delivered),
            # signed, then tampered with
            await http.post(
                path,
                data={**delivered, "MessageStatus": "undelivered", "ErrorCode": "30005"},
                headers={"X-Twilio-Signature": signature(token, url, delivered)},
            ),
            # signed for this channel, sent to another channel id (and to none)
            await http.post(
                path.replace("channel=", "channel=9"),
                data=delivered,
                headers={"X-Twilio-Signature": signature(token, url, delivered)},
            ),
            await http.post(
                path.split("?")[0],
                data=delivered,
                headers={"X-Twilio-Signature": signature(token, url, delivered)},
            ),
            # a body far bigger than Twilio's, signed
            await post_signed(http, token, url, {**delivered, "Body": "x" * 100_000}),
            # a JSON body and a multipart one with a file
            await http.post(
                path,
                json=delivered,
                headers={"X-Twilio-Signature": signature(token, url, delivered)},
            ),
            await http.post(
                path,
                data=delivered,
                files={"f": ("f.txt", b"x")},
                headers={"X-Twilio-Signature": signature(token, url, delivered)},
            ),
            # a parameter repeated
            await http.post(
                path,
                content=f"MessageSid={sid}&MessageStatus=delivered&MessageStatus=read",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature(token, url, delivered),
                },
            ),
            # a channel id that is no number
            await http.post(
                path.split("?")[0] + "?channel=1%00",
                data=delivered,
                headers={"X-Twilio-Signature": signature(token, url, delivered)},
            ),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)
        assert all(r.content == b"" for r in refused)
        # Signed right, but odd: no change and no error (Twilio would retry a 5xx).
        for odd in (
            callback_params(sid.upper(), "delivered"),
            callback_params(sid + "\x00", "delivered"),
            callback_params(sid, "delivered\x00"),
            callback_params(sid, "exploded"),
            callback_params("SM" + "0" * 32, "delivered"),
            {"MessageStatus": "delivered"},
        ):
            answer = await post_signed(http, token, url, odd)
            assert answer.status_code == 200, (odd, answer.text)
    await callbacks_applied(stack)
    assert await client.snapshot() == before
    assert await other.snapshot() == other_before
    lead = (await feedback(client, campaign_id))[sid]
    assert (lead["status"], lead["deliveredAt"]) == ("SENT", None)


async def test_a_sid_of_another_accounts_campaign_changes_nothing(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """The other account signs correctly, for its own channel: it still cannot reach a lead
    of a campaign that is not its channel's."""
    twilio_standin.control.reset()
    client = await stack.client()
    campaign_id, messages = await sent_campaign(stack, twilio_standin, client, 1)
    sid = messages[0]["sid"]

    other_twilio = twilio_standin.control.create_account()
    other = await stack.client("Other")
    await twilio_channel_for(
        other,
        twilio_standin,
        "SMS",
        accountSid=other_twilio["account_sid"],
        authToken=other_twilio["auth_token"],
    )
    async with stack.server.db.read() as session:
        other_channel = await session.scalar(
            select(TwilioChannel.id).where(TwilioChannel.account_id == other.account_id)
        )
    other_url = f"{stack.server.settings.public_url}/hooks/twilio/status?channel={other_channel}"
    before = await client.snapshot()
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30) as http:
        for status, code in (("delivered", None), ("read", None), ("undelivered", 21610)):
            answer = await post_signed(
                http, other_twilio["auth_token"], other_url, callback_params(sid, status, code)
            )
            assert answer.status_code == 200
    await callbacks_applied(stack)
    assert await client.snapshot() == before
    lead = (await feedback(client, campaign_id))[sid]
    assert lead["status"] == "SENT"


async def test_a_callback_before_the_sid_is_recorded_is_applied_when_it_is(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    twilio_standin.control.delay(3.0, count=1)  # the create is made, its answer waits
    client = await stack.client()
    code = await twilio_channel_for(client, twilio_standin, "SMS")
    campaign = await messaging_campaign(client, code, leads(1))
    await act(client, "startCampaign", campaign["id"])
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 20
    while not (made := twilio_standin.control.messages()):
        assert loop.time() < give_up
        await asyncio.sleep(0.02)
    message = made[0]
    async with httpx.AsyncClient(base_url=stack.server.url, timeout=30) as http:
        for status in ("delivered", "read"):
            answer = await post_signed(
                http,
                twilio_standin.auth_token,
                message["standin"]["status_callback"],
                callback_params(message["sid"], status),
            )
            assert answer.status_code == 200
    await callbacks_applied(stack)
    async with stack.server.db.read() as session:
        kept = (await session.execute(select(EarlyStatus.status))).scalars().all()
    assert sorted(kept) == ["delivered", "read"]  # the worker has not recorded the sid yet

    await wait_until(client, campaign["id"], "COMPLETED", within=30)
    lead = (await feedback(client, campaign["id"]))[message["sid"]]
    assert lead["status"] == "READ"
    assert lead["deliveredAt"]
    assert lead["readAt"]
    assert (await totals(client, campaign["id"]))["totalDelivered"] == 1
    async with stack.server.db.read() as session:
        assert (await session.execute(select(EarlyStatus))).first() is None


async def test_the_catch_up_job_settles_leads_whose_callbacks_never_came(
    tmp_path: Path, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    async with sending_stack(tmp_path, CLARION_STATUS_CATCHUP_SECONDS="1") as stack:
        client = await stack.client()
        campaign_id, messages = await sent_campaign(stack, twilio_standin, client, 5)
        outcomes = [("delivered", None), ("read", None), ("undelivered", 30005), ("failed", 21610)]
        for message, (status, code) in zip(messages, outcomes, strict=False):
            twilio_standin.control.set_status(message["sid"], status, code)
        # messages[4] stays queued at Twilio: it stays SENT.

        async def settled() -> bool:
            leads_now = await feedback(client, campaign_id)
            return [leads_now[m["sid"]]["status"] for m in messages[:4]] == [
                "DELIVERED",
                "READ",
                "NOT_RECEIVED",
                "NOT_RECEIVED",
            ]

        await eventually(settled, within=60)
        found = await feedback(client, campaign_id)
        assert found[messages[2]["sid"]]["errorCode"] == "30005"
        assert found[messages[3]["sid"]]["errorCode"] == "21610"
        assert found[messages[4]["sid"]]["status"] == "SENT"
        assert await totals(client, campaign_id) == {
            "totalSent": 3,
            "totalFailed": 2,
            "totalDelivered": 2,
        }
        async with stack.server.db.read() as session:
            checked = (
                await session.execute(
                    select(Delivery.status_checked_at).where(
                        Delivery.message_id == messages[4]["sid"]
                    )
                )
            ).scalar_one()
            consent = await session.scalar(
                select(Contact.consent_sms).where(Contact.phone == "+14155550003")
            )
        assert checked is not None  # fetched, and left as it is
        assert consent is False
