"""The send engine's guarantees under faults, end to end (real worker processes, a real
SMTP server, the real database): nothing the server accepted goes unrecorded, an unknown
outcome is flagged when resent, pause and cancel hold after the pacing wait, what was
started is what is sent, a suspended channel halts its campaigns, and SMTP connections are
not kept past their use."""

import asyncio
import contextlib
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.engine import make_url

from db.clock import db_now
from db.engine import SQLITE_BUSY_TIMEOUT_MS
from db.enums import DeliveryStatus
from db.models import ChannelUsage, Delivery, EmailChannel
from jobs.pacing import ChannelPacer
from tests.sending_stack import (
    FINAL_STATUSES,
    SendingStack,
    act,
    audience,
    campaign_for,
    channel_for,
    email_campaign,
    execution,
    sending_stack,
    stack,
    wait_until,
)
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, import_contacts, pk_of

__all__ = ["stack"]

FINAL = FINAL_STATUSES


async def rows(client: GraphQLClient, campaign_id: str) -> dict[str, tuple[str, bool]]:
    """email -> (status, possible_duplicate) of every ledger row of the campaign."""
    async with client.server.db.read() as session:
        found = await session.execute(
            select(Delivery.address, Delivery.status, Delivery.possible_duplicate).where(
                Delivery.campaign_id == pk_of(campaign_id, "Campaign")
            )
        )
        return {email: (DeliveryStatus(s).value, dup) for email, s, dup in found}


async def poll(done: Any, within: float = 30.0) -> None:
    """Waits until `await done()` is true; fails after `within` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not await done():
        assert loop.time() < give_up, f"never true within {within}s"
        await asyncio.sleep(0.1)


def once_each(n: int) -> Counter[str]:
    return Counter({row["email"]: 1 for row in audience(n)})


# --- nothing the server accepted goes unrecorded ------------------------------------------


@contextlib.asynccontextmanager
async def refusing_writes(stack: SendingStack) -> AsyncIterator[None]:
    """The database refuses the worker's next write. SQLite: the test holds the write
    lock for longer than the worker's busy timeout, so the write fails with "database is
    locked". PostgreSQL: the test locks the ledger, and the connection of the worker's
    write that waits on it is terminated."""
    url = make_url(stack.env["CLARION_DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        blocker = sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)
        await asyncio.to_thread(blocker.execute, "BEGIN IMMEDIATE")
        try:
            yield
            await asyncio.sleep(SQLITE_BUSY_TIMEOUT_MS / 1000 + 3)
        finally:
            blocker.rollback()
            blocker.close()
        return
    admin = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        async with admin.transaction():
            await admin.execute("LOCK TABLE deliveries IN EXCLUSIVE MODE")
            yield
            waiting: list[asyncpg.Record] = []
            for _ in range(300):
                waiting = await admin.fetch(
                    "SELECT pid FROM pg_locks"
                    " WHERE relation = 'deliveries'::regclass AND NOT granted"
                )
                if waiting:
                    break
                await asyncio.sleep(0.1)
            assert waiting, "no write waited on the ledger"
            for row in waiting:
                await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
            await asyncio.sleep(2)
    finally:
        await admin.close()


async def test_recording_outlasts_a_failing_database_and_a_shutdown(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    """The database refuses the batch's results, and the worker is told to stop meanwhile:
    the results are written once the database takes them again, before the worker exits."""
    client = await stack.client()
    smtp_sink.delay(1.0)  # 8 messages over 4 connections: the batch sends for 2 s
    campaign_id = await campaign_for(client, smtp_sink, 8)
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(1, timeout=30)
    async with refusing_writes(stack):
        stack.workers[0].send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(stack.workers[0].wait, 60) == 0

    assert await rows(client, campaign_id) == dict.fromkeys(once_each(8), ("sent", False))
    assert smtp_sink.recipients() == once_each(8)
    assert "recording a batch failed" in stack.worker_log(0)
    stack.start_worker()
    done = await wait_until(client, campaign_id, *FINAL)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 8)
    assert smtp_sink.recipients() == once_each(8)


async def test_connection_lost_after_data_is_resent_and_flagged(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    smtp_sink.drop_after_data(times=1)  # the server keeps the message, the reply is lost
    campaign_id = await campaign_for(client, smtp_sink, 10)
    await act(client, "startCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 10)

    received = smtp_sink.recipients()
    assert len(smtp_sink.messages) == 11
    (twice,) = [email for email, n in received.items() if n == 2]
    assert received == once_each(10) + Counter([twice])
    ledger = await rows(client, campaign_id)
    assert {email for email, (_, dup) in ledger.items() if dup} == {twice}
    assert {status for status, _ in ledger.values()} == {"sent"}


# --- pause and cancel after the pacing wait -----------------------------------------------


async def paced_campaign(
    stack: SendingStack, client: GraphQLClient, sink: SmtpSink, contacts: int
) -> str:
    """A campaign whose channel's next 10 windows are taken (another campaign's batches,
    booked through the same shared pacer), so its first batch waits about 10 seconds for
    its turn. The worker's lease is a minute: a batch claimed before the wait would still
    be sent after it."""
    stack.start_worker(CLARION_SEND_LEASE_SECONDS="60")
    code = await channel_for(client, sink, rateLimit=100)
    await import_contacts(client, audience(contacts))
    campaign_id = await email_campaign(client, code)
    async with client.server.db.read() as session:
        channel_id = await session.scalar(
            select(EmailChannel.id).where(
                EmailChannel.account_id == client.account_id, EmailChannel.code == code
            )
        )
    assert channel_id is not None
    redis = Redis.from_url(stack.env["CLARION_REDIS_URL"])
    try:
        pacer = ChannelPacer(redis)
        turns = [await pacer.reserve(f"email:{channel_id}", 100, 100) for _ in range(10)]
        assert turns[0].wait_s < 0.2  # the next tick
    finally:
        await redis.aclose()
    await act(client, "startCampaign", campaign_id)

    async def waiting() -> bool:
        state = await execution(client, campaign_id)
        return bool(state["execution"]["status"] == "PROCESSING")

    await poll(waiting)
    await asyncio.sleep(0.5)  # its run has booked its batch's place and waits for it
    assert sink.messages == []
    return campaign_id


async def test_pause_during_the_pacing_wait_sends_nothing_of_the_batch(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    async with sending_stack(tmp_path, workers=0) as stack:
        await pause_during_the_pacing_wait(stack, smtp_sink)


async def pause_during_the_pacing_wait(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await paced_campaign(stack, client, smtp_sink, 6)
    await act(client, "pauseCampaign", campaign_id)

    async def released() -> bool:
        return {s for s, _ in (await rows(client, campaign_id)).values()} == {"pending"}

    await poll(released)
    await asyncio.sleep(12)  # past the reserved seconds, when the batch would have gone
    assert smtp_sink.messages == []
    assert (await execution(client, campaign_id))["execution"]["status"] == "PAUSED"

    await act(client, "resumeCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 6)
    assert smtp_sink.recipients() == once_each(6)


async def test_cancel_during_the_pacing_wait_leaves_nothing_pending_or_sending(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    async with sending_stack(tmp_path, workers=0) as stack:
        await cancel_during_the_pacing_wait(stack, smtp_sink)


async def cancel_during_the_pacing_wait(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await paced_campaign(stack, client, smtp_sink, 6)
    await act(client, "cancelCampaign", campaign_id)
    assert {s for s, _ in (await rows(client, campaign_id)).values()} == {"cancelled"}

    await asyncio.sleep(12)  # past the reserved seconds, when the batch would have gone
    assert smtp_sink.messages == []
    done = await execution(client, campaign_id)
    assert (done["status"], done["execution"]["status"]) == ("CANCELLED", "CANCELLED")
    assert (done["execution"]["totalSent"], done["execution"]["totalFailed"]) == (0, 0)
    assert {s for s, _ in (await rows(client, campaign_id)).values()} == {"cancelled"}


async def test_cancel_mid_batch_records_what_was_sent(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    smtp_sink.delay(0.5)  # 40 messages over 4 connections: the first batch sends for 5 s
    campaign_id = await campaign_for(client, smtp_sink, 40)
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(4, timeout=30)
    await act(client, "cancelCampaign", campaign_id)
    assert "sending" not in {s for s, _ in (await rows(client, campaign_id)).values()}

    async def recorded() -> bool:
        sent = Counter(s for s, _ in (await rows(client, campaign_id)).values())["sent"]
        return sent == len(smtp_sink.messages) > 0

    await poll(recorded)
    await asyncio.sleep(1.5)
    ledger = await rows(client, campaign_id)
    sent = {email for email, (s, _) in ledger.items() if s == "sent"}
    assert Counter(smtp_sink.recipients()) == Counter(dict.fromkeys(sent, 1))
    assert Counter(s for s, _ in ledger.values()) == {
        "sent": len(sent),
        "cancelled": 40 - len(sent),
    }
    done = await execution(client, campaign_id)
    assert done["execution"]["totalSent"] == len(sent)


# --- what was started is what is sent -----------------------------------------------------


async def test_edits_while_running_do_not_change_the_campaigns_messages(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    """The template, the channel's sender and the account's default sender change while the
    campaign runs (paused, so its next run loads everything again)."""
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 60, channel={"rateLimit": 20})
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(10, timeout=30)
    await act(client, "pauseCampaign", campaign_id)
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { emailTemplate { id } emailChannel { id } } }",
        {"id": campaign_id},
    )
    edits = [
        (
            "updateEmailTemplate",
            {
                "id": data["campaign"]["emailTemplate"]["id"],
                "subject": "Changed {{ first_name }}",
                "bodyHtml": "<p>Changed</p>",
                "bodyText": "Changed",
            },
            "emailTemplate { id }",
        ),
        (
            "updateEmailChannel",
            {
                "id": data["campaign"]["emailChannel"]["id"],
                "defaultFromEmail": "channel@other.test",
                "defaultFromName": "Channel",
                "defaultReplyToEmail": "channel-reply@other.test",
            },
            "emailChannel { id }",
        ),
        (
            "updateAccount",
            {"defaultFromEmail": "account@other.test", "defaultFromName": "Other"},
            "account { name }",
        ),
    ]
    for name, input, selection in edits:
        payload = await client.mutate(name, input, selection)
        assert payload["userErrors"] == [], payload
    await act(client, "resumeCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL)
    assert done["execution"]["totalSent"] == 60
    assert smtp_sink.recipients() == once_each(60)

    first_names = {row["email"]: row["firstName"] for row in audience(60)}
    for received in smtp_sink.messages:
        message = received.message()
        (recipient,) = received.rcpt_tos
        assert received.mail_from == "news@acme.test"
        assert message["From"] == "Acme News <news@acme.test>"
        assert message["Reply-To"] == "help@acme.test"
        assert message["Subject"] == f"Hello {first_names[recipient]}"
        html = message.get_body(("html",))
        assert html is not None
        assert f"<p>Hi {first_names[recipient]}</p>" in html.get_content()


async def test_suspended_channel_halts_its_campaign_until_active(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 80, channel={"rateLimit": 20})
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { emailChannel { id } } }", {"id": campaign_id}
    )
    channel = data["campaign"]["emailChannel"]["id"]
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(10, timeout=30)

    async def set_status(status: str) -> None:
        payload = await client.mutate(
            "updateEmailChannel", {"id": channel, "status": status}, "emailChannel { id }"
        )
        assert payload["userErrors"] == [], payload

    await set_status("SUSPENDED")
    halted = await wait_until(client, campaign_id, "HALTED", within=10)
    assert halted["status"] == "RUNNING"
    assert "suspended" in halted["execution"]["errorMessage"]
    assert halted["execution"]["nextRunAt"] is None
    await asyncio.sleep(1.0)  # a batch under way when the channel was suspended lands
    at_halt = len(smtp_sink.messages)
    await asyncio.sleep(3.0)  # sweeps come and go: nothing more is sent
    assert len(smtp_sink.messages) == at_halt < 80
    assert (await execution(client, campaign_id))["execution"]["status"] == "HALTED"

    await set_status("ACTIVE")
    done = await wait_until(client, campaign_id, *FINAL)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 80)
    assert done["execution"]["errorMessage"] == ""
    assert smtp_sink.recipients() == once_each(80)


# --- SMTP connections -----------------------------------------------------------------------


async def test_a_channels_pool_is_closed_when_its_settings_change(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    first = await campaign_for(client, smtp_sink, 8)
    await act(client, "startCampaign", first)
    assert (await wait_until(client, first, *FINAL))["status"] == "COMPLETED"
    assert smtp_sink.open_connections() > 0  # the pool keeps its connections for reuse

    with SmtpSink() as other:
        data = await client.gql(
            "query($id: ID!) { campaign(id: $id) { emailChannel { id } } }", {"id": first}
        )
        payload = await client.mutate(
            "updateEmailChannel",
            {"id": data["campaign"]["emailChannel"]["id"], "smtpPort": other.port},
            "emailChannel { id }",
        )
        assert payload["userErrors"] == []
        second = await email_campaign(client, "main", campaignName="Second")
        await act(client, "startCampaign", second)
        assert (await wait_until(client, second, *FINAL))["status"] == "COMPLETED"
        assert other.recipients() == once_each(8)

        async def closed() -> bool:
            return smtp_sink.open_connections() == 0

        await poll(closed, within=10)
    assert smtp_sink.recipients() == once_each(8)


async def test_a_refused_login_closes_its_connection(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    smtp_sink.require_login("clarion", "right")
    campaign_id = await campaign_for(
        client, smtp_sink, 8, channel={"smtpUsername": "clarion", "smtpPassword": "wrong"}
    )
    await act(client, "startCampaign", campaign_id)
    halted = await wait_until(client, campaign_id, "HALTED", within=30)
    assert "login refused" in halted["execution"]["errorMessage"]

    async def closed() -> bool:
        return smtp_sink.open_connections() == 0

    await poll(closed, within=10)
    assert smtp_sink.messages == []


# --- one clock ------------------------------------------------------------------------------


async def test_a_worker_with_a_wrong_clock_keeps_the_databases_time(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """A worker whose clock is a day and a half ahead: the quota is counted on the
    database's day, and sends, leases and halts are stamped with the database's time."""
    async with sending_stack(tmp_path, workers=0) as skewed:
        skewed.start_skewed_worker(36 * 3600)
        client = await skewed.client()
        campaign_id = await campaign_for(client, smtp_sink, 30, channel={"dailyQuota": 20})
        await act(client, "startCampaign", campaign_id)
        halted = await wait_until(client, campaign_id, "HALTED", within=60)
        async with client.server.db.read() as session:
            today = (await db_now(session)).date()
            usage = (await session.execute(select(ChannelUsage.period, ChannelUsage.used))).all()
            sent_at = (
                await session.scalars(
                    select(Delivery.sent_at).where(Delivery.status == DeliveryStatus.SENT)
                )
            ).all()
            now = await db_now(session)
    assert "daily quota of 20" in halted["execution"]["errorMessage"]
    assert usage == [(datetime.combine(today, time(), UTC), 20)]
    assert len(sent_at) == 20
    assert all(at is not None and abs(at - now) < timedelta(minutes=5) for at in sent_at)
    next_run = datetime.fromisoformat(halted["execution"]["nextRunAt"])
    assert next_run == datetime.combine(today + timedelta(days=1), time(), UTC)
