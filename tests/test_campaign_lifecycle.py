"""Campaign actions through the HTTP API: schedule, start, pause, resume, cancel.

Every action is tried from every status a client can reach (draft, scheduled, running,
paused, cancelled); the ledger (`deliveries`), the execution and the send job enqueued in
the server's Redis are checked directly.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from arq.constants import default_queue_name, job_key_prefix
from arq.jobs import deserialize_job
from sqlalchemy import select

from db.enums import DeliveryStatus
from db.models import Delivery
from graph.ids import encode_id
from jobs.queue import SEND_CAMPAIGN
from tests.support import (
    GraphQLClient,
    NewClient,
    Server,
    import_contacts,
    make_channel,
    make_email_campaign,
    pk_of,
)

EXECUTION = """
    status startedAt completedAt expectedCompletionAt pausedAt resumedAt cancelledAt
    lastRunAt nextRunAt totalContacts totalSkipped totalSent totalFailed totalDelivered
    totalBounced totalComplained totalOpened totalClicked errorMessage
"""
ACTIONS = ["startCampaign", "scheduleCampaign", "pauseCampaign", "resumeCampaign", "cancelCampaign"]
STATUSES = ["DRAFT", "SCHEDULED", "RUNNING", "PAUSED", "CANCELLED"]
# (status, action) -> the status after it; pairs not listed are refused with INVALID_STATE.
ALLOWED = {
    ("DRAFT", "startCampaign"): "RUNNING",
    ("DRAFT", "scheduleCampaign"): "SCHEDULED",
    ("DRAFT", "cancelCampaign"): "CANCELLED",
    # Its scheduledAt lies in the future: starting keeps it scheduled until then.
    ("SCHEDULED", "startCampaign"): "SCHEDULED",
    ("SCHEDULED", "cancelCampaign"): "CANCELLED",
    ("RUNNING", "pauseCampaign"): "PAUSED",
    ("RUNNING", "cancelCampaign"): "CANCELLED",
    ("PAUSED", "resumeCampaign"): "RUNNING",
    ("PAUSED", "cancelCampaign"): "CANCELLED",
}


def future(days: int = 1) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def refused(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    assert payload["campaign"] is None, payload
    assert all(isinstance(e["message"], str) and e["message"] for e in payload["userErrors"])
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def act(
    client: GraphQLClient, action: str, campaign_id: str, selection: str = "status", **extra: Any
) -> dict[str, Any]:
    return await client.mutate(action, {"id": campaign_id, **extra}, f"campaign {{ {selection} }}")


def action_input(action: str) -> dict[str, Any]:
    return {"scheduledAt": future(2).isoformat()} if action == "scheduleCampaign" else {}


async def deliveries(client: GraphQLClient, campaign_id: str) -> list[tuple[str, int, str]]:
    """(email, contact id, status) of every ledger row of the campaign, sorted."""
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(
                Delivery.address, Delivery.contact_id, Delivery.status, Delivery.account_id
            ).where(Delivery.campaign_id == pk_of(campaign_id, "Campaign"))
        )
        out = []
        for email, contact_id, status, account_id in rows:
            assert account_id == client.account_id
            out.append((email, contact_id, DeliveryStatus(status).value))
    return sorted(out)


async def contact_ids(client: GraphQLClient) -> dict[str, int]:
    data = await client.gql("{ contacts(first: 100) { edges { node { id email } } } }")
    return {
        e["node"]["email"]: pk_of(e["node"]["id"], "Contact") for e in data["contacts"]["edges"]
    }


@pytest.fixture
async def redis_client(server: Server) -> AsyncIterator[aioredis.Redis]:
    url = server.settings.redis_url or f"unix://{server.settings.data_dir / 'redis.sock'}"
    connection = aioredis.Redis.from_url(url)
    try:
        yield connection
    finally:
        await connection.aclose()


async def send_job_queued(redis_client: aioredis.Redis, campaign_id: str) -> bool:
    """A send job for the campaign waits in arq's queue (this server runs no worker)."""
    ident = pk_of(campaign_id, "Campaign")
    for job_id in await redis_client.zrange(default_queue_name, 0, -1):
        data = await redis_client.get(job_key_prefix.encode() + job_id)
        if data is not None:
            job = deserialize_job(data)
            if job.function == SEND_CAMPAIGN and job.args == (ident,):
                return True
    return False


async def ready(client: GraphQLClient, **campaign: Any) -> dict[str, Any]:
    """A channel, two reachable contacts tagged vip and a draft campaign for them."""
    await make_channel(client)
    await import_contacts(
        client,
        [
            {"email": "ann@example.test", "firstName": "Ann", "tags": ["vip"]},
            {"email": "bob@example.test", "firstName": "Bob", "tags": ["vip"]},
        ],
    )
    return await make_email_campaign(client, **campaign)


async def campaign_in(client: GraphQLClient, status: str) -> dict[str, Any]:
    """A campaign brought to `status` through the API."""
    campaign = await ready(client)
    steps = {
        "DRAFT": [],
        "SCHEDULED": [("scheduleCampaign", "SCHEDULED")],
        "RUNNING": [("startCampaign", "RUNNING")],
        "PAUSED": [("startCampaign", "RUNNING"), ("pauseCampaign", "PAUSED")],
        "CANCELLED": [("startCampaign", "RUNNING"), ("cancelCampaign", "CANCELLED")],
    }[status]
    for action, expected in steps:
        payload = await act(client, action, campaign["id"], **action_input(action))
        assert payload == {"campaign": {"status": expected}, "userErrors": []}
    return campaign


# --- the transition table ------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", STATUSES)
async def test_action_from_status(client: GraphQLClient, status: str, action: str) -> None:
    campaign = await campaign_in(client, status)
    before = await client.snapshot()
    payload = await act(client, action, campaign["id"], "id status", **action_input(action))
    expected = ALLOWED.get((status, action))
    if expected is None:
        assert refused(payload) == [("INVALID_STATE", ["id"])]
        assert await client.snapshot() == before
    else:
        assert payload == {
            "campaign": {"id": campaign["id"], "status": expected},
            "userErrors": [],
        }
        data = await client.gql(
            "query($id: ID!) { campaign(id: $id) { status } }", {"id": campaign["id"]}
        )
        assert data == {"campaign": {"status": expected}}


@pytest.mark.parametrize("action", ACTIONS)
async def test_action_on_unknown_or_foreign_campaign_is_not_found(
    client: GraphQLClient, new_client: NewClient, action: str
) -> None:
    other = await new_client("Other")
    theirs = await ready(other)
    other_before = await other.snapshot()
    await ready(client)
    before = await client.snapshot()
    for campaign_id in (theirs["id"], encode_id("Campaign", 999_999_999), "garbage"):
        payload = await act(client, action, campaign_id, **action_input(action))
        assert refused(payload) == [("NOT_FOUND", ["id"])]
    assert await client.snapshot() == before
    assert await other.snapshot() == other_before


# --- start ---------------------------------------------------------------------------------


async def test_start_materialises_the_ledger(client: GraphQLClient, new_client: NewClient) -> None:
    await make_channel(client)
    await import_contacts(
        client,
        [
            {"email": "ann@example.test", "tags": ["vip"]},
            {"email": "bob@example.test", "tags": ["vip", "new"]},  # two audience tags
            {"email": "cat@example.test", "tags": ["new"]},
            {"email": "dan@example.test", "tags": ["vip"], "marketingConsent": {"email": False}},
            {  # other channels' consent does not matter for email
                "email": "eli@example.test",
                "tags": ["new"],
                "marketingConsent": {"sms": False, "whatsapp": False},
            },
            {"email": "eve@example.test", "tags": ["other"]},
            {"email": "fay@example.test"},
        ],
    )
    # Another account's contacts carry the same tags (and one the same address).
    other = await new_client("Other")
    await import_contacts(
        other,
        [
            {"email": "ann@example.test", "tags": ["vip"]},
            {"email": "gus@example.test", "tags": ["vip", "new"]},
        ],
    )
    campaign = await make_email_campaign(client, contactTags=["vip", "new"])
    payload = await act(
        client, "startCampaign", campaign["id"], "status execution { totalContacts totalSkipped }"
    )
    assert payload == {
        "campaign": {"status": "RUNNING", "execution": {"totalContacts": 4, "totalSkipped": 1}},
        "userErrors": [],
    }
    ids = await contact_ids(client)
    assert await deliveries(client, campaign["id"]) == sorted(
        (email, ids[email], "pending")
        for email in (
            "ann@example.test",
            "bob@example.test",
            "cat@example.test",
            "eli@example.test",
        )
    )
    assert (await other.snapshot())["deliveries"] == []


@pytest.mark.parametrize(
    ("duration", "tracking"),
    [(None, False), (None, True), (90, False), (1, True), (1440, False)],
)
async def test_start_creates_the_execution(
    client: GraphQLClient, duration: int | None, tracking: bool
) -> None:
    await make_channel(client, enableEngagementTracking=tracking)
    await import_contacts(
        client,
        [
            {"email": "ann@example.test", "tags": ["vip"]},
            {"email": "bob@example.test", "tags": ["vip"], "marketingConsent": {"email": False}},
        ],
    )
    campaign = await make_email_campaign(client, executionDurationMinutes=duration)
    started = datetime.now(UTC)
    payload = await act(
        client, "startCampaign", campaign["id"], f"status execution {{ {EXECUTION} }}"
    )
    finished = datetime.now(UTC)
    assert payload["userErrors"] == []
    execution = payload["campaign"]["execution"]
    started_at = at(execution["startedAt"])
    assert started_at is not None
    assert started <= started_at <= finished
    expected_end = None if duration is None else started_at + timedelta(minutes=duration)
    assert at(execution["expectedCompletionAt"]) == expected_end
    tracked = 0 if tracking else None
    assert payload["campaign"] == {
        "status": "RUNNING",
        "execution": {
            "status": "PENDING",
            "startedAt": execution["startedAt"],
            "completedAt": None,
            "expectedCompletionAt": execution["expectedCompletionAt"],
            "pausedAt": None,
            "resumedAt": None,
            "cancelledAt": None,
            "lastRunAt": None,
            "nextRunAt": None,
            "totalContacts": 1,
            "totalSkipped": 1,
            "totalSent": 0,
            "totalFailed": 0,
            "totalDelivered": 0,
            "totalBounced": 0,
            "totalComplained": 0,
            "totalOpened": tracked,
            "totalClicked": tracked,
            "errorMessage": "",
        },
    }
    # The same execution is read back by the `campaign` query.
    data = await client.gql(
        f"query($id: ID!) {{ campaign(id: $id) {{ status execution {{ {EXECUTION} }} }} }}",
        {"id": campaign["id"]},
    )
    assert data == {"campaign": payload["campaign"]}


async def test_concurrent_starts_make_one_ledger(client: GraphQLClient) -> None:
    campaign = await ready(client)
    payloads = await asyncio.gather(
        *(act(client, "startCampaign", campaign["id"]) for _ in range(5))
    )
    outcomes = sorted(
        p["campaign"]["status"] if p["campaign"] else p["userErrors"][0]["code"] for p in payloads
    )
    assert outcomes == ["INVALID_STATE"] * 4 + ["RUNNING"]
    ids = await contact_ids(client)
    assert await deliveries(client, campaign["id"]) == [
        ("ann@example.test", ids["ann@example.test"], "pending"),
        ("bob@example.test", ids["bob@example.test"], "pending"),
    ]
    assert len((await client.snapshot())["campaign_executions"]) == 1


async def test_start_a_scheduled_campaign_whose_time_has_come(client: GraphQLClient) -> None:
    campaign = await ready(client)
    when = datetime.now(UTC) + timedelta(seconds=1)
    payload = await act(client, "scheduleCampaign", campaign["id"], scheduledAt=when.isoformat())
    assert payload == {"campaign": {"status": "SCHEDULED"}, "userErrors": []}
    await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()) + 0.05)
    payload = await act(client, "startCampaign", campaign["id"], "status execution { status }")
    assert payload == {
        "campaign": {"status": "RUNNING", "execution": {"status": "PENDING"}},
        "userErrors": [],
    }
    assert len(await deliveries(client, campaign["id"])) == 2


async def test_start_enqueues_the_send_job(
    client: GraphQLClient, redis_client: aioredis.Redis
) -> None:
    campaign = await ready(client)
    assert not await send_job_queued(redis_client, campaign["id"])
    payload = await act(client, "startCampaign", campaign["id"])
    assert payload == {"campaign": {"status": "RUNNING"}, "userErrors": []}
    assert await send_job_queued(redis_client, campaign["id"])


@pytest.mark.parametrize(
    "contacts",
    [
        [],
        [{"email": "eve@example.test", "tags": ["other"]}],
        [
            {"email": "ann@example.test", "tags": ["vip"], "marketingConsent": {"email": False}},
            {"email": "bob@example.test", "tags": ["vip"], "marketingConsent": {"email": False}},
        ],
    ],
    ids=["no-contacts", "no-member", "nobody-consents"],
)
@pytest.mark.parametrize("action", ["startCampaign", "scheduleCampaign"])
async def test_start_or_schedule_empty_audience_is_refused(
    client: GraphQLClient,
    redis_client: aioredis.Redis,
    contacts: list[dict[str, Any]],
    action: str,
) -> None:
    await make_channel(client)
    if contacts:
        await import_contacts(client, contacts)
    campaign = await make_email_campaign(client)
    before = await client.snapshot()
    payload = await act(client, action, campaign["id"], **action_input(action))
    assert refused(payload) == [("EMPTY_AUDIENCE", ["audience"])]
    assert await client.snapshot() == before
    assert not await send_job_queued(redis_client, campaign["id"])


async def test_another_accounts_consenting_members_do_not_fill_an_audience(
    client: GraphQLClient, new_client: NewClient
) -> None:
    other = await new_client("Other")
    await import_contacts(other, [{"email": "ann@example.test", "tags": ["vip"]}])
    await make_channel(client)
    campaign = await make_email_campaign(client)
    before = await client.snapshot()
    assert refused(await act(client, "startCampaign", campaign["id"])) == [
        ("EMPTY_AUDIENCE", ["audience"])
    ]
    assert await client.snapshot() == before


@pytest.mark.parametrize("channel_status", ["SUSPENDED", "PENDING"])
@pytest.mark.parametrize("action", ["startCampaign", "scheduleCampaign"])
async def test_start_or_schedule_with_inactive_channel_is_refused(
    client: GraphQLClient, redis_client: aioredis.Redis, channel_status: str, action: str
) -> None:
    campaign = await ready(client)
    channel = await client.gql("{ emailChannels { edges { node { id } } } }")
    channel_id = channel["emailChannels"]["edges"][0]["node"]["id"]
    payload = await client.mutate(
        "updateEmailChannel",
        {"id": channel_id, "status": channel_status},
        "emailChannel { status }",
    )
    assert payload == {"emailChannel": {"status": channel_status}, "userErrors": []}
    before = await client.snapshot()
    payload = await act(client, action, campaign["id"], **action_input(action))
    assert refused(payload) == [("INVALID_STATE", ["emailChannel"])]
    assert await client.snapshot() == before
    assert not await send_job_queued(redis_client, campaign["id"])


async def test_start_with_future_scheduled_at_schedules(
    client: GraphQLClient, redis_client: aioredis.Redis
) -> None:
    when = future()
    campaign = await ready(client, scheduledAt=when.isoformat())
    payload = await act(
        client, "startCampaign", campaign["id"], "status scheduledAt execution { status }"
    )
    assert payload == {
        "campaign": {"status": "SCHEDULED", "scheduledAt": when.isoformat(), "execution": None},
        "userErrors": [],
    }
    assert await deliveries(client, campaign["id"]) == []
    assert not await send_job_queued(redis_client, campaign["id"])
    # Starting it again keeps it scheduled and changes nothing.
    before = await client.snapshot()
    payload = await act(
        client, "startCampaign", campaign["id"], "status scheduledAt execution { status }"
    )
    assert payload["campaign"] == {
        "status": "SCHEDULED",
        "scheduledAt": when.isoformat(),
        "execution": None,
    }
    assert await client.snapshot() == before


async def test_start_refuses_without_any_sender(new_client: NewClient) -> None:
    client = await new_client("Bare", with_defaults=False)
    await make_channel(client, defaultFromEmail="f@acme.test", defaultReplyToEmail="r@acme.test")
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    campaign = await make_email_campaign(client)
    channel = await client.gql("{ emailChannels { edges { node { id } } } }")
    # The channel loses its defaults after the campaign was created.
    payload = await client.mutate(
        "updateEmailChannel",
        {
            "id": channel["emailChannels"]["edges"][0]["node"]["id"],
            "defaultFromEmail": "",
            "defaultReplyToEmail": "",
        },
        "emailChannel { defaultFromEmail }",
    )
    assert payload["userErrors"] == []
    before = await client.snapshot()
    assert refused(await act(client, "startCampaign", campaign["id"])) == [
        ("MISSING_SENDER", ["fromEmail"]),
        ("MISSING_SENDER", ["replyToEmail"]),
    ]
    assert await client.snapshot() == before


# --- schedule ------------------------------------------------------------------------------


async def test_schedule_with_explicit_time(
    client: GraphQLClient, redis_client: aioredis.Redis
) -> None:
    campaign = await ready(client, scheduledAt=future(5).isoformat())
    when = future(2)
    payload = await act(
        client,
        "scheduleCampaign",
        campaign["id"],
        "status scheduledAt execution { status }",
        scheduledAt=when.isoformat(),
    )
    assert payload == {
        "campaign": {"status": "SCHEDULED", "scheduledAt": when.isoformat(), "execution": None},
        "userErrors": [],
    }
    assert await deliveries(client, campaign["id"]) == []
    assert not await send_job_queued(redis_client, campaign["id"])


async def test_schedule_keeps_the_campaigns_time(client: GraphQLClient) -> None:
    when = future(3)
    campaign = await ready(client, scheduledAt=when.isoformat())
    payload = await act(client, "scheduleCampaign", campaign["id"], "status scheduledAt")
    assert payload == {
        "campaign": {"status": "SCHEDULED", "scheduledAt": when.isoformat()},
        "userErrors": [],
    }


async def test_schedule_without_any_time_is_refused(client: GraphQLClient) -> None:
    campaign = await ready(client)
    before = await client.snapshot()
    payload = await act(client, "scheduleCampaign", campaign["id"])
    assert refused(payload) == [("REQUIRED", ["scheduledAt"])]
    assert await client.snapshot() == before


@pytest.mark.parametrize("ago", [timedelta(seconds=1), timedelta(days=400)])
async def test_schedule_in_the_past_is_refused(client: GraphQLClient, ago: timedelta) -> None:
    campaign = await ready(client)
    before = await client.snapshot()
    payload = await act(
        client,
        "scheduleCampaign",
        campaign["id"],
        scheduledAt=(datetime.now(UTC) - ago).isoformat(),
    )
    assert refused(payload) == [("INVALID", ["scheduledAt"])]
    assert await client.snapshot() == before


# --- pause, resume, cancel -----------------------------------------------------------------


async def test_pause_and_resume(client: GraphQLClient, redis_client: aioredis.Redis) -> None:
    campaign = await campaign_in(client, "RUNNING")
    ledger = await deliveries(client, campaign["id"])
    assert [status for *_, status in ledger] == ["pending", "pending"]
    selection = "status execution { status startedAt pausedAt resumedAt cancelledAt }"

    t0 = datetime.now(UTC)
    paused = await act(client, "pauseCampaign", campaign["id"], selection)
    t1 = datetime.now(UTC)
    assert paused["userErrors"] == []
    execution = paused["campaign"]["execution"]
    paused_at = at(execution["pausedAt"])
    assert paused_at is not None
    assert t0 <= paused_at <= t1
    assert paused["campaign"] == {
        "status": "PAUSED",
        "execution": {
            "status": "PAUSED",
            "startedAt": execution["startedAt"],
            "pausedAt": execution["pausedAt"],
            "resumedAt": None,
            "cancelledAt": None,
        },
    }
    assert await deliveries(client, campaign["id"]) == ledger

    t2 = datetime.now(UTC)
    resumed = await act(client, "resumeCampaign", campaign["id"], selection)
    t3 = datetime.now(UTC)
    assert resumed["userErrors"] == []
    resumed_at = at(resumed["campaign"]["execution"]["resumedAt"])
    assert resumed_at is not None
    assert t2 <= resumed_at <= t3
    assert resumed["campaign"] == {
        "status": "RUNNING",
        "execution": {
            "status": "PROCESSING",
            "startedAt": execution["startedAt"],
            "pausedAt": execution["pausedAt"],
            "resumedAt": resumed["campaign"]["execution"]["resumedAt"],
            "cancelledAt": None,
        },
    }
    assert await deliveries(client, campaign["id"]) == ledger
    assert await send_job_queued(redis_client, campaign["id"])


@pytest.mark.parametrize("status", ["RUNNING", "PAUSED"])
async def test_cancel_marks_pending_deliveries_cancelled(
    client: GraphQLClient, status: str
) -> None:
    campaign = await campaign_in(client, status)
    ledger = await deliveries(client, campaign["id"])
    t0 = datetime.now(UTC)
    payload = await act(
        client,
        "cancelCampaign",
        campaign["id"],
        "status execution { status cancelledAt totalContacts }",
    )
    t1 = datetime.now(UTC)
    assert payload["userErrors"] == []
    execution = payload["campaign"]["execution"]
    cancelled_at = at(execution["cancelledAt"])
    assert cancelled_at is not None
    assert t0 <= cancelled_at <= t1
    assert payload["campaign"] == {
        "status": "CANCELLED",
        "execution": {
            "status": "CANCELLED",
            "cancelledAt": execution["cancelledAt"],
            "totalContacts": 2,
        },
    }
    assert await deliveries(client, campaign["id"]) == [
        (email, contact_id, "cancelled") for email, contact_id, _ in ledger
    ]


@pytest.mark.parametrize("status", ["DRAFT", "SCHEDULED"])
async def test_cancel_before_start_has_no_execution(client: GraphQLClient, status: str) -> None:
    campaign = await campaign_in(client, status)
    payload = await act(client, "cancelCampaign", campaign["id"], "status execution { status }")
    assert payload == {"campaign": {"status": "CANCELLED", "execution": None}, "userErrors": []}
    assert await deliveries(client, campaign["id"]) == []


async def test_cancelled_campaign_is_final(client: GraphQLClient) -> None:
    campaign = await campaign_in(client, "CANCELLED")
    before = await client.snapshot()
    for action in ACTIONS:
        payload = await act(client, action, campaign["id"], **action_input(action))
        assert refused(payload) == [("INVALID_STATE", ["id"])], action
    assert await client.snapshot() == before
