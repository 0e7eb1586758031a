"""Redis may come and go: killed under a running campaign and started again, empty, the
workers (standalone and embedded), the sweeper and the progress hub reconnect by
themselves, and the campaign completes with nobody missing (a copy resent after the loss
is flagged possible_duplicate, as after a crash)."""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Delivery
from tests.redis_process import PASSWORD, RedisProcess, SilentFailover
from tests.sending_stack import (
    FINAL_STATUSES,
    SendingStack,
    act,
    audience,
    campaign_for,
    sending_stack,
    wait_until,
)
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, pk_of
from tests.test_progress_subscriptions import PROGRESS, receive, socket, subscribe

CONTACTS = 1500


async def flagged(client: GraphQLClient, campaign_id: str) -> dict[str, tuple[str, bool]]:
    """email -> (status, possible_duplicate) of every row of the campaign."""
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(Delivery.address, Delivery.status, Delivery.possible_duplicate).where(
                Delivery.campaign_id == pk_of(campaign_id, "Campaign")
            )
        )
        return {email: (str(status), dup) for email, status, dup in rows}


async def assert_everyone_once_or_flagged(
    client: GraphQLClient, campaign_id: str, sink: SmtpSink
) -> None:
    done = await wait_until(client, campaign_id, *FINAL_STATUSES, within=120)
    assert done["execution"]["status"] == "COMPLETED", done
    assert done["execution"]["totalSent"] == CONTACTS
    received = sink.recipients()
    assert set(received) == {r["email"] for r in audience(CONTACTS)}
    assert max(received.values()) <= 2
    twice = {email for email, n in received.items() if n > 1}
    rows = await flagged(client, campaign_id)
    assert twice <= {email for email, (_, dup) in rows.items() if dup}


async def start_then(
    stack: SendingStack, sink: SmtpSink, outage: Callable[[], Awaitable[None]]
) -> tuple[GraphQLClient, str]:
    """Starts a campaign and runs `outage` a few hundred messages in; returns the account's
    client and the campaign's id."""
    client = await stack.client()
    sink.delay(0.01)  # a slow server, so the outage lands mid-campaign
    campaign_id = await campaign_for(client, sink, CONTACTS)
    await act(client, "startCampaign", campaign_id)
    assert await sink.wait_for(300, timeout=60)
    await outage()
    return client, campaign_id


async def restart_redis_mid_campaign(
    stack: SendingStack, sink: SmtpSink
) -> tuple[GraphQLClient, str]:
    """Kills the stack's Redis mid-campaign and starts it again (empty) 3 seconds later."""
    redis = stack.redis
    assert redis is not None

    async def outage() -> None:
        await redis.kill()
        await asyncio.sleep(3)
        await redis.start()

    return await start_then(stack, sink, outage)


def embedded_redis_servers(data_dir: Path) -> list[int]:
    """The pids of this process' redis-server children serving `data_dir`: the API's
    embedded Redis (the session's server has one too)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid ...
            pid, rest = stat.read_text().split(" (", 1)
            comm, fields = rest.rsplit(") ", 1)
            if comm != "redis-server" or int(fields.split()[1]) != os.getpid():
                continue
            # redis-server retitles itself "redis-server unixsocket:PATH"
            title = (stat.parent / "cmdline").read_bytes()
            if os.fsencode(data_dir.resolve()) in title:
                found.append(int(pid))
    return found


async def test_standalone_worker_survives_a_redis_restart(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    async with sending_stack(tmp_path, workers=1, redis="tcp") as stack:
        client, campaign_id = await restart_redis_mid_campaign(stack, smtp_sink)
        await assert_everyone_once_or_flagged(client, campaign_id, smtp_sink)
        assert stack.workers[0].poll() is None  # the same process, reconnected
        assert PASSWORD not in stack.worker_log()


async def test_worker_survives_a_failover_to_an_empty_server(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """The Redis behind the stack's address is replaced by an empty one while the old one
    goes silent (its connections stay open, unanswered): commands give up on them and
    reconnect, to the new server."""
    primary, replica = RedisProcess(tmp_path / "primary"), RedisProcess(tmp_path / "replica")
    await primary.start()
    await replica.start()
    front = SilentFailover(primary)
    await front.start()
    try:
        async with sending_stack(
            tmp_path, workers=1, redis="serve", CLARION_REDIS_URL=front.url
        ) as stack:

            async def outage() -> None:
                front.fail_over(replica)

            client, campaign_id = await start_then(stack, smtp_sink, outage)
            await assert_everyone_once_or_flagged(client, campaign_id, smtp_sink)
            assert stack.workers[0].poll() is None
    finally:
        await front.stop()
        await primary.stop()
        await replica.stop()


async def test_embedded_worker_survives_a_redis_restart(
    tmp_path: Path, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    """`clarion serve` on an external Redis, with its worker inside the API process."""
    caplog.set_level(logging.INFO)
    async with sending_stack(tmp_path, workers=0, embedded_worker=True, redis="tcp") as stack:
        client, campaign_id = await restart_redis_mid_campaign(stack, smtp_sink)
        await assert_everyone_once_or_flagged(client, campaign_id, smtp_sink)
    # The API logged where its Redis is, without the password.
    assert "redis redis://:***@127.0.0.1:" in caplog.text
    assert PASSWORD not in caplog.text


async def test_embedded_redis_is_restarted_when_it_dies(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """`clarion serve`'s default: its own Redis child and its worker inside; SIGKILL the
    child mid-campaign."""
    async with sending_stack(tmp_path, workers=0, embedded_worker=True, redis="serve") as stack:
        (server,) = embedded_redis_servers(tmp_path)

        async def outage() -> None:
            os.kill(server, signal.SIGKILL)

        client, campaign_id = await start_then(stack, smtp_sink, outage)
        await assert_everyone_once_or_flagged(client, campaign_id, smtp_sink)
        (again,) = embedded_redis_servers(tmp_path)
        assert again != server


async def test_progress_subscription_survives_a_redis_restart(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """The API's one pattern subscription is made again, and the subscriber hears the rest
    of the campaign, to its end."""
    async with sending_stack(tmp_path, workers=1, redis="tcp") as stack:
        redis = stack.redis
        assert redis is not None
        client = await stack.client()
        smtp_sink.delay(0.01)
        campaign_id = await campaign_for(client, smtp_sink, CONTACTS)
        async with socket(client) as ws:
            await subscribe(ws, "p", PROGRESS, {"id": campaign_id})
            assert (await receive(ws))["type"] == "next"  # the snapshot
            await act(client, "startCampaign", campaign_id)
            while (await receive(ws))["payload"]["data"]["executionProgress"]["totalSent"] < 200:
                pass
            await redis.kill()
            await asyncio.sleep(3)
            await redis.start()
            after: list[dict[str, Any]] = []
            while (message := await receive(ws, within=60))["type"] == "next":
                after.append(message["payload"]["data"]["executionProgress"])
        assert message == {"id": "p", "type": "complete"}
        assert after, "no update after Redis came back"
        assert (after[-1]["status"], after[-1]["totalSent"]) == ("COMPLETED", CONTACTS)
