"""Status callbacks go through a queue on Redis: the webhook answers 200 once the event is
queued, and a worker applies it, even one started after the answer. While Redis is down,
the API applies a callback itself before answering, so none is lost; once Redis is back,
callbacks are queued again."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from jobs.status_queue import QUEUE_KEY
from tests.sending_stack import SendingStack, sending_stack, stop_process
from tests.status_hooks import (
    callback_params,
    callbacks_applied,
    feedback,
    post_signed,
    queue_counts,
    sent_campaign,
    totals,
)
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["twilio_standin"]


@pytest.fixture
async def tcp_stack(tmp_path: Path) -> AsyncIterator[SendingStack]:
    async with sending_stack(tmp_path, redis="tcp") as made:
        yield made


async def queued(stack: SendingStack) -> list[bytes]:
    redis = Redis.from_url(stack.env["CLARION_REDIS_URL"])
    try:
        return list(await redis.lrange(QUEUE_KEY, 0, -1))
    finally:
        await redis.aclose()


async def test_a_callback_answered_while_no_worker_runs_is_applied_by_the_next(
    tcp_stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await tcp_stack.client()
    campaign_id, messages = await sent_campaign(tcp_stack, twilio_standin, client, 2)
    await stop_process(tcp_stack.workers[0])
    before = await client.snapshot()
    async with httpx.AsyncClient(base_url=tcp_stack.server.url, timeout=30) as http:
        for message, status in zip(messages, ("read", "undelivered"), strict=True):
            url = message["standin"]["status_callback"]
            params = callback_params(message["sid"], status, 30003 if status != "read" else None)
            answer = await post_signed(http, twilio_standin.auth_token, url, params)
            assert answer.status_code == 200, answer.text
    # Answered, queued, not applied: no worker runs.
    waiting = await queued(tcp_stack)
    assert len(waiting) == 2
    assert all(m["sid"] in raw.decode() for m, raw in zip(messages, waiting, strict=True))
    assert await queue_counts(tcp_stack) == (2, 0)
    assert await client.snapshot() == before

    tcp_stack.start_worker()
    await callbacks_applied(tcp_stack)
    assert await queued(tcp_stack) == []
    leads = await feedback(client, campaign_id)
    assert leads[messages[0]["sid"]]["status"] == "READ"
    assert (leads[messages[1]["sid"]]["status"], leads[messages[1]["sid"]]["errorCode"]) == (
        "NOT_RECEIVED",
        "30003",
    )
    assert await totals(client, campaign_id) == {
        "totalSent": 1,
        "totalFailed": 1,
        "totalDelivered": 1,
    }


async def test_while_redis_is_down_a_callback_is_applied_by_the_api(
    tcp_stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await tcp_stack.client()
    campaign_id, messages = await sent_campaign(tcp_stack, twilio_standin, client, 2)
    assert tcp_stack.redis is not None
    await tcp_stack.redis.kill()
    token = twilio_standin.auth_token
    async with httpx.AsyncClient(base_url=tcp_stack.server.url, timeout=30) as http:
        first = messages[0]
        params = callback_params(first["sid"], "delivered")
        answer = await post_signed(http, token, first["standin"]["status_callback"], params)
        assert answer.status_code == 200, answer.text
        # Applied before the answer: nothing waits in a queue.
        assert (await feedback(client, campaign_id))[first["sid"]]["status"] == "DELIVERED"
        assert (await totals(client, campaign_id))["totalDelivered"] == 1

        # Redis back (empty): the next callback is queued again, and a worker applies it.
        await tcp_stack.redis.start()
        second = messages[1]
        params = callback_params(second["sid"], "delivered")
        answer = await post_signed(http, token, second["standin"]["status_callback"], params)
        assert answer.status_code == 200, answer.text
    await callbacks_applied(tcp_stack)
    assert await queue_counts(tcp_stack) == (1, 1)
    assert (await feedback(client, campaign_id))[second["sid"]]["status"] == "DELIVERED"
    assert (await totals(client, campaign_id))["totalDelivered"] == 2
