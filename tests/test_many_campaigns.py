"""Many campaigns at once on one worker: more than its job slots, none of them waiting for
another, and one account whose provider endpoint never answers slowing only its own."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from jobs.worker import MAX_JOBS
from tests.messaging_stack import leads, messaging_campaign
from tests.sending_stack import (
    FINAL_STATUSES,
    act,
    campaign_for,
    execution,
    sending_stack,
    stop_process,
    wait_until,
)
from tests.smtp_sink import SmtpSink, smtp_sink
from tests.support import GraphQLClient

__all__ = ["smtp_sink"]


@contextlib.asynccontextmanager
async def silent_endpoint() -> AsyncIterator[str]:
    """An HTTP endpoint on loopback that takes connections and never answers; its URL."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def silent_sms_campaigns(client: GraphQLClient, url: str, count: int) -> list[str]:
    """`count` started SMS campaigns of two leads on a channel whose endpoint is `url`."""
    payload = await client.mutate(
        "createTwilioChannel",
        {
            "code": "silent",
            "channelType": "SMS",
            "accountSid": "AC" + "0" * 32,
            "authToken": "f" * 32,
            "fromNumber": "+15005550006",
            "apiBaseUrl": url,
            "dailyQuota": 1_000_000,
        },
        "twilioChannel { code }",
    )
    assert payload["userErrors"] == [], payload
    started = []
    for i in range(count):
        campaign = await messaging_campaign(
            client, "silent", leads(2, start=2 * i), name=f"Silent {i}"
        )
        await act(client, "startCampaign", campaign["id"])
        started.append(campaign["id"])
    return started


async def test_more_campaigns_than_job_slots_all_send_at_once(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """Twice as many paced campaigns as a worker has job slots, of as many accounts, each
    on its own channel at 2 messages a second: they all send side by side (a campaign
    waiting for a slot would start seconds after the others), each exactly once."""
    campaigns = 2 * MAX_JOBS
    async with sending_stack(tmp_path, workers=1) as stack:
        clients = [await stack.client(f"Account {i}") for i in range(campaigns)]
        ids = [
            await campaign_for(client, smtp_sink, 6, channel={"rateLimit": 2}) for client in clients
        ]
        await asyncio.gather(
            *(act(c, "startCampaign", i) for c, i in zip(clients, ids, strict=True))
        )
        # 6 messages at 2 a second: about 3 windows each; all of them at once, well within
        # what 20 campaigns one after another (or 10 at a time) would take.
        await asyncio.sleep(1.5)
        sending = [await execution(c, i) for c, i in zip(clients, ids, strict=True)]
        assert all(s["execution"]["totalSent"] > 0 for s in sending), sending
        for client, campaign_id in zip(clients, ids, strict=True):
            done = await wait_until(client, campaign_id, *FINAL_STATUSES, within=30)
            assert (done["execution"]["status"], done["execution"]["totalSent"]) == (
                "COMPLETED",
                6,
            )
    assert len(smtp_sink.messages) == 6 * campaigns
    assert set(smtp_sink.recipients().values()) == {campaigns}  # each address once a campaign


async def test_a_silent_provider_endpoint_slows_only_its_own_account(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """One account's twelve SMS campaigns wait on an endpoint that never answers (more
    campaigns than the worker has job slots); other accounts' paced email campaigns,
    started after them, send at once and complete."""
    async with silent_endpoint() as url, sending_stack(tmp_path, workers=1) as stack:
        silent = await stack.client("Silent")
        waiting = await silent_sms_campaigns(silent, url, 12)
        await asyncio.sleep(2)  # their runs are in flight, waiting on the endpoint
        others = [await stack.client(f"Other {i}") for i in range(3)]
        ids = [
            await campaign_for(client, smtp_sink, 10, channel={"rateLimit": 10})
            for client in others
        ]
        await asyncio.gather(
            *(act(c, "startCampaign", i) for c, i in zip(others, ids, strict=True))
        )
        for client, campaign_id in zip(others, ids, strict=True):
            # A second's worth each: done within seconds, not after the silent ones' timeouts.
            done = await wait_until(client, campaign_id, *FINAL_STATUSES, within=8)
            assert (done["execution"]["status"], done["execution"]["totalSent"]) == (
                "COMPLETED",
                10,
            )
        assert len(smtp_sink.messages) == 30
        for campaign_id in waiting:  # still theirs to finish, nothing lost or sent
            state = await execution(silent, campaign_id)
            assert state["status"] == "RUNNING", state
            assert state["execution"]["totalSent"] == 0
        for worker in stack.workers:
            await stop_process(worker)
