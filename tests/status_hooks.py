"""Helpers for status callback tests: callbacks signed as Twilio signs them (the twilio
package's RequestValidator over the message's StatusCallback URL and the parameters), a
sent campaign to post them for, and a lead's feedback fields."""

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx
from twilio.request_validator import RequestValidator

from jobs.status_queue import APPLIED_KEY, QUEUED_KEY
from tests import hook_queues
from tests.messaging_stack import leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, act, wait_until
from tests.support import GraphQLClient
from tests.twilio_standin.fixture import Standin

FEEDBACK = "id phoneNumber status messageSid errorCode errorMessage deliveredAt readAt"


def callback_params(sid: str, status: str, error_code: int | None = None) -> dict[str, str]:
    """What Twilio posts for an SMS status change."""
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15005550006",
        "To": "+14155550000",
        "ApiVersion": "2010-04-01",
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def signature(token: str, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


async def post_signed(
    http: httpx.AsyncClient, token: str, url: str, params: dict[str, str]
) -> httpx.Response:
    """POSTs `params` to `url` (a StatusCallback URL) signed with `token`."""
    headers = {"X-Twilio-Signature": signature(token, url, params)}
    return await http.post(_local(url), data=params, headers=headers)


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def sent_campaign(
    stack: SendingStack, standin: Standin, client: GraphQLClient, n: int, channel: str = "SMS"
) -> tuple[str, list[dict[str, Any]]]:
    """An SMS campaign of `n` leads sent to the stand-in; its id and the stand-in's
    messages (with their StatusCallback URLs), in lead order."""
    code = await twilio_channel_for(client, standin, channel)
    campaign = await messaging_campaign(client, code, leads(n))
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], "COMPLETED", within=90)
    assert done["execution"]["totalSent"] == n, done
    by_to = {m["to"]: m for m in standin.control.messages()}
    return campaign["id"], [by_to[f"+1415555{i:04d}"] for i in range(n)]


async def feedback(client: GraphQLClient, campaign_id: str) -> dict[str, dict[str, Any]]:
    """Every lead's status fields, by message sid."""
    out: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        data = await client.gql(
            "query($id: ID!, $after: String) { campaign(id: $id) { leads(first: 100, after: "
            f"$after) {{ edges {{ node {{ {FEEDBACK} }} }} pageInfo {{ hasNextPage endCursor }}"
            " } } }",
            {"id": campaign_id, "after": after},
        )
        page = data["campaign"]["leads"]
        out.update({e["node"]["messageSid"]: e["node"] for e in page["edges"]})
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


async def totals(client: GraphQLClient, campaign_id: str) -> dict[str, int]:
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { execution { totalSent totalFailed "
        "totalDelivered } } }",
        {"id": campaign_id},
    )
    found: dict[str, int] = data["campaign"]["execution"]
    return found


async def eventually(check: Any, within: float = 30.0) -> None:
    """Waits until `check()` (async) returns true."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not await check():
        assert loop.time() < give_up, "never happened"
        await asyncio.sleep(0.2)


async def queue_counts(stack: SendingStack) -> tuple[int, int]:
    """How many status events the API queued and how many a worker applied, ever."""
    return await hook_queues.queue_counts(stack.env["CLARION_REDIS_URL"], QUEUED_KEY, APPLIED_KEY)


async def callbacks_applied(stack: SendingStack, within: float = 30.0) -> None:
    """Waits until every status callback the API queued has been applied (committed) by a
    worker: the webhook answers before that."""
    await hook_queues.callbacks_drained(stack.env["CLARION_REDIS_URL"], within)
