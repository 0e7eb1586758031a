"""WhatsApp template approval end to end: submitCampaignForApproval over the live API
creates the Content resource and its approval request at the Twilio stand-in (its own
process), a `clarion worker` process follows the status, and a running campaign halts
while its template is paused and continues when it is approved again."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from db import models
from db.enums import ApprovalStatus, ContentType
from db.settings import ConfigError, Settings
from db.types import utcnow
from db.usecases.messaging_campaigns import create_messaging_campaign
from graph.ids import encode_id
from jobs.approval import poll_delay
from jobs.channels.twilio.client import twilio_client
from jobs.channels.twilio.content import to_twilio_types
from jobs.channels.twilio.content_api import fetch_content
from jobs.queue import follow_marker
from tests.messaging_stack import TEXT_CONTENT, leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, act, sending_stack, wait_until
from tests.support import GraphQLClient, pk_of
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["twilio_standin"]

SUBMIT = "campaign { id approvalStatus rejectionReason contentSid }"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SendingStack]:
    """Quick polls, so that a test sees received → pending → approved within seconds."""
    async with sending_stack(
        tmp_path, CLARION_APPROVAL_POLL_SECONDS="0.4,0.8", CLARION_APPROVAL_FRESH_SECONDS="1"
    ) as made:
        yield made


async def whatsapp_campaign(
    client: GraphQLClient, standin: Standin, n: int = 3, **channel: Any
) -> str:
    code = await twilio_channel_for(client, standin, "WHATSAPP", **channel)
    campaign = await messaging_campaign(client, code, leads(n))
    assert campaign["approvalStatus"] == "UNSUBMITTED"
    campaign_id: str = campaign["id"]
    return campaign_id


async def submit(client: GraphQLClient, campaign_id: str, category: str = "MARKETING") -> Any:
    return await client.mutate(
        "submitCampaignForApproval", {"id": campaign_id, "category": category}, SUBMIT
    )


async def approval(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { approvalStatus rejectionReason contentSid } }",
        {"id": campaign_id},
    )
    found: dict[str, Any] = data["campaign"]
    return found


async def statuses_until(
    client: GraphQLClient, campaign_id: str, final: str, within: float = 30
) -> list[str]:
    """Every distinct approvalStatus seen, in order, until `final`."""
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not seen or seen[-1] != final:
        status = (await approval(client, campaign_id))["approvalStatus"]
        if not seen or seen[-1] != status:
            seen.append(status)
        assert loop.time() < give_up, f"never {final}: {seen}"
        await asyncio.sleep(0.05)
    return seen


async def content_row(client: GraphQLClient, campaign_id: str) -> tuple[Any, ...]:
    """The campaign's content row, without the times a follower's reads move."""
    async with client.server.db.read() as session:
        row = await session.get_one(models.MessagingContent, pk_of(campaign_id, "Campaign"))
        return (
            row.content_type,
            row.context,
            row.content_sid,
            row.created_content_sid,
            row.approval_status,
            row.approval_category,
            row.rejection_reason,
        )


def standin_contents(standin: Standin) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{standin.base_url}/v1/Content",
        auth=(standin.account_sid, standin.auth_token),
        params={"PageSize": 100},
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["contents"]
    return found


def approval_request(standin: Standin, sid: str) -> dict[str, Any]:
    response = httpx.get(
        f"{standin.base_url}/v1/Content/{sid}/ApprovalRequests",
        auth=(standin.account_sid, standin.auth_token),
    )
    response.raise_for_status()
    found: dict[str, Any] = response.json()["whatsapp"]
    return found


async def test_submit_then_received_pending_approved_then_sent(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    twilio_standin.control.approval_plan("approved", after_fetches=2)
    client = await stack.client()
    campaign_id = await whatsapp_campaign(client, twilio_standin, 3)
    refused = await client.mutate("startCampaign", {"id": campaign_id}, "campaign { id }")
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_APPROVED"]

    payload = await submit(client, campaign_id, "UTILITY")
    assert payload["userErrors"] == []
    sid = payload["campaign"]["contentSid"]
    assert payload["campaign"]["approvalStatus"] == "RECEIVED"
    [made] = standin_contents(twilio_standin)
    assert made["sid"] == sid
    assert made["types"] == to_twilio_types(ContentType.TEXT, TEXT_CONTENT)
    assert made["variables"] == {"first_name": "first_name", "code": "code"}
    assert made["language"] == "en"

    seen = await statuses_until(client, campaign_id, "APPROVED")
    assert seen == ["RECEIVED", "PENDING", "APPROVED"]
    again = await submit(client, campaign_id)
    assert [(e["code"], e["message"]) for e in again["userErrors"]] == [
        ("INVALID_STATE", "The template is already approved.")
    ]
    async with stack.server.db.read() as session:
        row = await session.get_one(models.MessagingContent, pk_of(campaign_id, "Campaign"))
        assert row.approval_category == "utility"
        assert row.approval_checked_at is not None

    await act(client, "startCampaign", campaign_id)
    done = await wait_until(client, campaign_id, "COMPLETED", "FAILED", within=60)
    assert done["execution"]["totalSent"] == 3, done
    sent = twilio_standin.control.messages()
    assert Counter(m["to"] for m in sent) == {f"whatsapp:+1415555{i:04d}": 1 for i in range(3)}
    assert {m["standin"]["content_sid"] for m in sent} == {sid}


async def test_rejected_with_its_reason_then_submitted_again(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    twilio_standin.control.approval_plan("rejected", "INVALID_FORMAT", after_fetches=1)
    client = await stack.client()
    campaign_id = await whatsapp_campaign(client, twilio_standin)
    first = await submit(client, campaign_id)
    assert first["userErrors"] == []

    assert (await statuses_until(client, campaign_id, "REJECTED"))[-1] == "REJECTED"
    rejected = await approval(client, campaign_id)
    assert rejected == {
        "approvalStatus": "REJECTED",
        "rejectionReason": "INVALID_FORMAT",
        "contentSid": first["campaign"]["contentSid"],
    }
    refused = await client.mutate("startCampaign", {"id": campaign_id}, "campaign { id }")
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_APPROVED"]

    twilio_standin.control.approval_plan("approved", after_fetches=0)
    again = await submit(client, campaign_id)
    assert again["userErrors"] == []
    assert again["campaign"]["contentSid"] not in (None, first["campaign"]["contentSid"])
    assert len(standin_contents(twilio_standin)) == 2
    assert (await statuses_until(client, campaign_id, "APPROVED"))[-1] == "APPROVED"
    assert (await approval(client, campaign_id))["rejectionReason"] is None


async def test_refusals_change_nothing(stack: SendingStack, twilio_standin: Standin) -> None:
    """SMS needs no approval; a template in review is not submitted twice; another account
    finds no such campaign; Twilio refusing the request is SEND_FAILED. Each changes
    nothing here, nor at Twilio."""
    twilio_standin.control.reset()
    twilio_standin.control.approval_plan("pending", after_fetches=0)
    client = await stack.client()
    sms = await messaging_campaign(
        client, await twilio_channel_for(client, twilio_standin, "SMS"), leads(2)
    )
    campaign_id = await whatsapp_campaign(client, twilio_standin)
    before = await client.snapshot()
    row = await content_row(client, campaign_id)

    refused = await submit(client, sms["id"])
    assert refused["campaign"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID", ["id"])]
    assert "SMS" in refused["userErrors"][0]["message"]

    other = await stack.client("Other")
    foreign = await submit(other, campaign_id)
    assert [(e["code"], e["field"]) for e in foreign["userErrors"]] == [("NOT_FOUND", ["id"])]
    assert await client.snapshot() == before
    assert await content_row(client, campaign_id) == row
    assert standin_contents(twilio_standin) == []

    cancelled = await whatsapp_campaign(client, twilio_standin, code="wa2")
    await act(client, "cancelCampaign", cancelled)
    final = await submit(client, cancelled)
    assert [(e["code"], e["message"]) for e in final["userErrors"]] == [
        ("INVALID_STATE", "The campaign is cancelled.")
    ]
    assert standin_contents(twilio_standin) == []

    accepted = await submit(client, campaign_id)
    assert accepted["userErrors"] == []
    assert (await statuses_until(client, campaign_id, "PENDING"))[-1] == "PENDING"
    submitted = await content_row(client, campaign_id)
    again = await submit(client, campaign_id)
    assert [(e["code"], e["field"]) for e in again["userErrors"]] == [("INVALID_STATE", ["id"])]
    assert await content_row(client, campaign_id) == submitted
    assert len(standin_contents(twilio_standin)) == 1


async def test_twilio_refusing_the_submission_changes_nothing(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    campaign_id = await whatsapp_campaign(client, twilio_standin, authToken="f" * 32)
    before = await client.snapshot()
    row = await content_row(client, campaign_id)

    failed = await submit(client, campaign_id)
    assert failed["campaign"] is None
    [error] = failed["userErrors"]
    assert (error["code"], error["field"]) == ("SEND_FAILED", ["id"])
    assert error["message"].startswith("Twilio refused the approval request: Twilio 20003")
    assert await client.snapshot() == before
    assert await content_row(client, campaign_id) == row
    assert standin_contents(twilio_standin) == []

    for _ in range(9):  # ten requests that reach Twilio a minute, then no more
        assert [e["code"] for e in (await submit(client, campaign_id))["userErrors"]] == [
            "SEND_FAILED"
        ]
    limited = await submit(client, campaign_id)
    assert [(e["code"], e["field"]) for e in limited["userErrors"]] == [("RATE_LIMITED", None)]
    assert await client.snapshot() == before
    assert await content_row(client, campaign_id) == row


async def test_a_template_paused_mid_campaign_halts_it_until_approved(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    twilio_standin.control.approval_plan("approved", after_fetches=0)
    client = await stack.client()
    campaign_id = await whatsapp_campaign(client, twilio_standin, 40, rateLimit=5)
    sid = (await submit(client, campaign_id))["campaign"]["contentSid"]
    await statuses_until(client, campaign_id, "APPROVED")
    await act(client, "startCampaign", campaign_id)
    await wait_for_sent(twilio_standin, 5)

    twilio_standin.control.approval_plan("paused", "QUALITY_LOW", content_sid=sid)
    halted = await wait_until(client, campaign_id, "HALTED", within=30)
    assert halted["execution"]["errorMessage"] == (
        "The WhatsApp template is paused (QUALITY_LOW); sending continues when it is "
        "approved again."
    )
    assert halted["execution"]["nextRunAt"] is None
    assert await approval(client, campaign_id) == {
        "approvalStatus": "PAUSED",
        "rejectionReason": "QUALITY_LOW",
        "contentSid": sid,
    }
    await asyncio.sleep(1.5)  # a batch in flight when it halted is recorded, then no more
    sent_when_halted = len(twilio_standin.control.messages())
    await asyncio.sleep(2.0)  # the follower keeps reading it paused: still halted
    assert len(twilio_standin.control.messages()) == sent_when_halted < 40
    still = await wait_until(client, campaign_id, "HALTED")
    assert still["execution"]["errorMessage"] == halted["execution"]["errorMessage"]

    twilio_standin.control.approval_plan("approved", content_sid=sid)
    done = await wait_until(client, campaign_id, "COMPLETED", within=60)
    assert done["execution"]["totalSent"] == 40
    assert done["execution"]["errorMessage"] == ""
    assert Counter(m["to"] for m in twilio_standin.control.messages()) == {
        f"whatsapp:+1415555{i:04d}": 1 for i in range(40)
    }


async def test_a_template_of_the_users_account_is_submitted_as_it_is(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """A campaign made from contentSid (createMessagingCampaign reads it from Twilio;
    here made through the use case with what fetch_content read) submits that template:
    no Content resource is made, the approval is requested on the user's own."""
    twilio_standin.control.reset()
    twilio_standin.control.approval_plan("approved", after_fetches=1)
    client = await stack.client()
    code = await twilio_channel_for(client, twilio_standin, "WHATSAPP")
    auth = (twilio_standin.account_sid, twilio_standin.auth_token)
    types = {"twilio/text": {"body": "Hi {{first_name}}, your order shipped."}}
    async with httpx.AsyncClient(base_url=twilio_standin.base_url, auth=auth) as raw:
        made = await raw.post("/v1/Content", json={"language": "en", "types": types})
    assert made.status_code == 201, made.text
    sid = made.json()["sid"]
    api, http = twilio_client(*auth, twilio_standin.base_url)
    try:
        fetched = await fetch_content(api, sid)
    finally:
        await http.aclose()
    assert fetched is not None
    assert fetched.approval is ApprovalStatus.UNSUBMITTED
    async with stack.server.db.write() as session:
        campaign = await create_messaging_campaign(
            session,
            client.account_id,
            {"name": "Shipping", "channel": code, "content_sid": sid},
            utcnow(),
            fetched,
        )
        campaign_id = encode_id("Campaign", campaign.id)

    payload = await submit(client, campaign_id, "UTILITY")
    assert payload["userErrors"] == []
    assert payload["campaign"]["contentSid"] == sid
    assert payload["campaign"]["approvalStatus"] == "RECEIVED"
    assert [c["sid"] for c in standin_contents(twilio_standin)] == [sid]
    assert (await statuses_until(client, campaign_id, "APPROVED"))[-1] == "APPROVED"
    request = approval_request(twilio_standin, sid)
    assert (request["category"], request["status"]) == ("UTILITY", "approved")
    assert request["name"].startswith(f"shipping_{campaign.id}_")
    async with stack.server.db.read() as session:
        row = await session.get_one(models.MessagingContent, campaign.id)
        assert (row.content_sid, row.created_content_sid) == (sid, "")


async def wait_for_sent(standin: Standin, n: int, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while len(standin.control.messages()) < n:
        assert loop.time() < give_up, f"fewer than {n} messages arrived"
        await asyncio.sleep(0.05)


async def test_lost_follow_is_queued_again_by_the_sweeper(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """A template in review with no follower (its job and marker lost, or none ever queued)
    is read again by the sweeper's repair."""
    twilio_standin.control.reset()
    twilio_standin.control.approval_plan("approved", after_fetches=0)
    client = await stack.client()
    campaign_id = await whatsapp_campaign(client, twilio_standin)
    sid = (await submit(client, campaign_id))["campaign"]["contentSid"]
    await statuses_until(client, campaign_id, "APPROVED")
    # As if a follow had been lost while it was in review, long ago.
    async with stack.server.db.write() as session:
        row = (
            await session.scalars(
                select(models.MessagingContent).where(
                    models.MessagingContent.campaign_id == pk_of(campaign_id, "Campaign")
                )
            )
        ).one()
        row.approval_status = ApprovalStatus.PENDING
        row.approval_checked_at = None
    redis = Redis.from_url(stack.env["CLARION_REDIS_URL"])
    try:  # a lost job's marker expires with it
        await redis.delete(follow_marker(pk_of(campaign_id, "Campaign")))
    finally:
        await redis.aclose()
    assert (await statuses_until(client, campaign_id, "APPROVED"))[-1] == "APPROVED"
    assert approval_request(twilio_standin, sid)["status"] == "approved"


@pytest.mark.parametrize(
    ("attempt", "wait"), [(0, 5.0), (1, 10.0), (2, 20.0), (5, 160.0), (6, 300.0), (10**6, 300.0)]
)
def test_poll_delay_doubles_up_to_the_longest(attempt: int, wait: float) -> None:
    assert poll_delay(attempt, 5.0, 300.0) == wait


def test_approval_settings() -> None:
    default = Settings.from_env({}).sending
    assert (default.approval_poll_seconds, default.approval_fresh_seconds) == ((5.0, 300.0), 300)
    given = Settings.from_env(
        {"CLARION_APPROVAL_POLL_SECONDS": "1,60", "CLARION_APPROVAL_FRESH_SECONDS": "30"}
    ).sending
    assert (given.approval_poll_seconds, given.approval_fresh_seconds) == ((1.0, 60.0), 30)
    for bad in ("5", "60,1", "0,5", "1,2,3", "a,b"):
        with pytest.raises(ConfigError, match="CLARION_APPROVAL_POLL_SECONDS"):
            Settings.from_env({"CLARION_APPROVAL_POLL_SECONDS": bad})
    with pytest.raises(ConfigError, match="CLARION_APPROVAL_FRESH_SECONDS"):
        Settings.from_env({"CLARION_APPROVAL_FRESH_SECONDS": "0"})
