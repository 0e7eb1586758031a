"""Sending, end to end: the API starts a campaign, a `clarion worker` process sends it to a
real SMTP server (aiosmtpd), and what arrives there is compared with the ledger."""

import asyncio
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from db.enums import DeliveryStatus
from db.models import Contact, Delivery
from jobs.pacing import BATCH_MAX
from tests.sending_stack import (
    FINAL_STATUSES,
    SendingStack,
    act,
    audience,
    campaign_for,
    execution,
    sending_stack,
    stack,
    stop_process,
    wait_until,
)
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, pk_of

__all__ = ["stack"]

FINAL = FINAL_STATUSES


async def ledger(client: GraphQLClient, campaign_id: str) -> dict[str, tuple[str, str, bool]]:
    """email -> (status, message_id, possible_duplicate) of every row of the campaign."""
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(
                Delivery.address, Delivery.status, Delivery.message_id, Delivery.possible_duplicate
            ).where(Delivery.campaign_id == pk_of(campaign_id, "Campaign"))
        )
        return {email: (DeliveryStatus(s).value, mid, dup) for email, s, mid, dup in rows}


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, subtype
    content: str = part.get_content()
    return content


async def test_every_contact_gets_exactly_one_rendered_message(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 250)
    await act(client, "startCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL)

    assert done["status"] == "COMPLETED"
    run = done["execution"]
    assert (run["status"], run["totalContacts"], run["totalSent"], run["totalFailed"]) == (
        "COMPLETED",
        250,
        250,
        0,
    )
    assert run["completedAt"] is not None
    assert run["lastRunAt"] is not None
    expected = {row["email"] for row in audience(250)}
    assert smtp_sink.recipients() == Counter(dict.fromkeys(expected, 1))

    rows = await ledger(client, campaign_id)
    assert set(rows) == expected
    assert {status for status, _, _ in rows.values()} == {"sent"}
    assert not any(dup for _, _, dup in rows.values())
    message_ids = [mid for _, mid, _ in rows.values()]
    assert len(set(message_ids)) == 250

    async with client.server.db.read() as session:
        names = dict((await session.execute(select(Contact.email, Contact.first_name))).all())
    for received in smtp_sink.messages:
        (recipient,) = received.rcpt_tos
        message = received.message()
        assert received.mail_from == "news@acme.test"
        assert message["To"] == recipient
        assert message["From"] == "Acme News <news@acme.test>"
        assert message["Reply-To"] == "help@acme.test"
        assert message["Subject"] == f"Hello {names[recipient]}"
        assert message["Message-ID"] == rows[recipient][1]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = message["List-Unsubscribe"]
        assert unsubscribe.startswith(f"<{stack.server.url}/unsubscribe/")
        html = body(message, "html")
        assert f"<p>Hi {names[recipient]}</p>" in html
        sale = html.split('href="')[1].split('"')[0]
        assert parse_qs(urlsplit(sale.replace("&amp;", "&")).query) == {
            "x": ["1"],
            "utm_source": ["clarion"],
            "utm_medium": ["email"],
            "utm_campaign": ["spring"],
        }
        # The unsubscribe link is the header's, untagged.
        assert f'href="{unsubscribe[1:-1]}"' in html
        assert body(message, "plain").strip() == (
            f"Hi {names[recipient]}, see https://shop.test/sale"
        )


async def test_the_embedded_worker_sends(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    """`clarion serve`'s default: the worker runs inside the API process."""
    async with sending_stack(tmp_path, workers=0, embedded_worker=True) as embedded:
        client = await embedded.client()
        campaign_id = await campaign_for(client, smtp_sink, 30)
        await act(client, "startCampaign", campaign_id)
        done = await wait_until(client, campaign_id, *FINAL)
    assert done["execution"]["status"] == "COMPLETED"
    assert smtp_sink.recipients() == Counter({r["email"]: 1 for r in audience(30)})


async def test_pause_and_resume_send_each_contact_once(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 300, channel={"rateLimit": 50})
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(60, timeout=30)
    # The estimate follows the pace: about 240 left at 50/s (45/s with the jitter margin).
    running = (await execution(client, campaign_id))["execution"]
    eta = datetime.fromisoformat(running["expectedCompletionAt"]) - datetime.now(UTC)
    assert timedelta(seconds=2) < eta < timedelta(seconds=10)
    await act(client, "pauseCampaign", campaign_id)
    paused = await execution(client, campaign_id)
    assert paused["execution"]["status"] == "PAUSED"
    # Nothing is sent after the pause settles (a chunk in flight may still land).
    await asyncio.sleep(1.0)
    at_pause = len(smtp_sink.messages)
    await asyncio.sleep(1.5)
    assert len(smtp_sink.messages) == at_pause
    assert at_pause < 300
    sent_rows = [e for e, (s, _, _) in (await ledger(client, campaign_id)).items() if s == "sent"]
    assert sorted(sent_rows) == sorted(smtp_sink.recipients())

    await act(client, "resumeCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL)
    assert done["execution"]["totalSent"] == 300
    assert smtp_sink.recipients() == Counter({row["email"]: 1 for row in audience(300)})
    assert done["execution"]["pausedAt"] is not None
    assert done["execution"]["resumedAt"] is not None


async def test_cancel_mid_flight_stops_for_good(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 200, channel={"rateLimit": 50})
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(40, timeout=30)
    await act(client, "cancelCampaign", campaign_id)
    await asyncio.sleep(1.0)
    at_cancel = len(smtp_sink.messages)
    await asyncio.sleep(2.0)
    assert len(smtp_sink.messages) == at_cancel < 200
    done = await execution(client, campaign_id)
    assert done["status"] == "CANCELLED"
    assert done["execution"]["status"] == "CANCELLED"
    assert done["execution"]["totalSent"] == at_cancel
    rows = await ledger(client, campaign_id)
    sent = sorted(e for e, (s, _, _) in rows.items() if s == "sent")
    assert sent == sorted(smtp_sink.recipients())
    assert Counter(s for s, _, _ in rows.values()) == {
        "sent": at_cancel,
        "cancelled": 200 - at_cancel,
    }


async def test_scheduled_campaign_starts_by_itself(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    when = datetime.now(UTC) + timedelta(seconds=3)
    campaign_id = await campaign_for(client, smtp_sink, 20, scheduledAt=when.isoformat())
    payload = await act(client, "startCampaign", campaign_id)
    assert payload["campaign"]["status"] == "SCHEDULED"
    done = await wait_until(client, campaign_id, *FINAL)
    assert done["status"] == "COMPLETED"
    assert smtp_sink.recipients() == Counter({r["email"]: 1 for r in audience(20)})
    first = min(m.at for m in smtp_sink.messages)
    assert when.timestamp() <= first
    started = datetime.fromisoformat(done["execution"]["startedAt"])
    assert when <= started


async def test_rate_limit_holds_across_two_workers(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    """Two worker processes send two campaigns on one channel: its limit is for both."""
    stack.start_worker()
    client = await stack.client()
    first = await campaign_for(client, smtp_sink, 60, channel={"rateLimit": 20})
    payload = await client.mutate(
        "createEmailCampaign",
        {
            "campaignName": "Second",
            "emailChannel": "main",
            "contactTags": ["vip"],
            "subject": "Again",
            "bodyHtml": "<p>again</p>",
        },
        "campaign { id }",
    )
    second = payload["campaign"]["id"]
    await act(client, "startCampaign", first)
    await act(client, "startCampaign", second)
    for campaign_id in (first, second):
        assert (await wait_until(client, campaign_id, *FINAL))["status"] == "COMPLETED"
    assert len(smtp_sink.messages) == 120
    assert smtp_sink.max_in_window(1.0) <= 20
    times = sorted(m.at for m in smtp_sink.messages)
    # 120 messages at 20 a second cannot take less than 5 seconds.
    assert times[-1] - times[0] >= 5.0


async def test_transient_and_permanent_failures(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    smtp_sink.fail_recipient("c000001@example.test", 450, "Greylisted", times=1)
    smtp_sink.fail_recipient("c000002@example.test", 550, "No such user")
    smtp_sink.fail_recipient("c000003@example.test", 452, "Mailbox full")  # always
    campaign_id = await campaign_for(client, smtp_sink, 10)
    await act(client, "startCampaign", campaign_id)
    done = await wait_until(client, campaign_id, *FINAL)
    assert done["status"] == "COMPLETED"
    run = done["execution"]
    assert (run["status"], run["totalSent"], run["totalFailed"]) == ("PARTIALLY_COMPLETED", 8, 2)
    expected = Counter({r["email"]: 1 for r in audience(10)})
    del expected["c000002@example.test"], expected["c000003@example.test"]
    assert smtp_sink.recipients() == expected
    async with client.server.db.read() as session:
        rows = {
            email: (DeliveryStatus(status).value, attempts, error)
            for email, status, attempts, error in await session.execute(
                select(
                    Delivery.address, Delivery.status, Delivery.attempts, Delivery.error_message
                ).where(Delivery.campaign_id == pk_of(campaign_id, "Campaign"))
            )
        }
    assert rows["c000001@example.test"][:2] == ("sent", 1)
    assert rows["c000002@example.test"] == ("failed", 1, "550 No such user")
    # Two retries (CLARION_SEND_RETRY_DELAYS has two delays), then it fails.
    assert rows["c000003@example.test"][:2] == ("failed", 3)
    assert rows["c000003@example.test"][2].startswith("452 Mailbox full")


async def test_server_down_halts_then_continues(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 150, channel={"rateLimit": 50})
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(30, timeout=30)
    # Between two batches: a message cut off mid-DATA would be an unknown outcome, retried
    # as a possible duplicate (tests/test_send_guarantees.py), not what this test is about.
    assert await smtp_sink.quiet(0.3)
    smtp_sink.down()
    halted = await wait_until(client, campaign_id, "HALTED", within=30)
    run = halted["execution"]
    assert halted["status"] == "RUNNING"
    assert "Could not connect to the channel's SMTP server '127.0.0.1'" in run["errorMessage"]
    assert datetime.fromisoformat(run["nextRunAt"]) > datetime.fromisoformat(run["lastRunAt"])
    # No storm: the deliveries it could not send are pending again, none failed.
    rows = await ledger(client, campaign_id)
    assert Counter(s for s, _, _ in rows.values()) == {
        "sent": len(smtp_sink.messages),
        "pending": 150 - len(smtp_sink.messages),
    }
    smtp_sink.up()
    done = await wait_until(client, campaign_id, *FINAL)
    assert done["execution"]["status"] == "COMPLETED"
    assert done["execution"]["errorMessage"] == ""
    assert smtp_sink.recipients() == Counter({r["email"]: 1 for r in audience(150)})


async def test_daily_quota_halts_until_tomorrow(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 80, channel={"dailyQuota": 50})
    await act(client, "startCampaign", campaign_id)
    halted = await wait_until(client, campaign_id, "HALTED")
    run = halted["execution"]
    assert run["totalSent"] == 50
    assert "daily quota of 50" in run["errorMessage"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    assert datetime.fromisoformat(run["nextRunAt"]) == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC
    )
    await asyncio.sleep(2.5)  # a sweep or two later, still nothing more
    assert len(smtp_sink.messages) == 50


async def test_worker_killed_mid_campaign_completes_after_restart(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    """SIGKILL: nobody is left out; a copy twice only for what was in flight, and flagged."""
    client = await stack.client()
    smtp_sink.delay(0.01)  # a slow server, so the kill lands mid-campaign
    campaign_id = await campaign_for(client, smtp_sink, 1500)
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(400, timeout=60)
    await stop_process(stack.workers[0], signal.SIGKILL)
    stack.start_worker()
    done = await wait_until(client, campaign_id, *FINAL, within=90)
    assert done["execution"]["status"] == "COMPLETED"
    assert done["execution"]["totalSent"] == 1500

    received = smtp_sink.recipients()
    assert set(received) == {r["email"] for r in audience(1500)}
    twice = {email for email, n in received.items() if n > 1}
    assert max(received.values()) <= 2
    rows = await ledger(client, campaign_id)
    flagged = {email for email, (_, _, dup) in rows.items() if dup}
    assert twice <= flagged
    assert len(flagged) <= BATCH_MAX  # at most one chunk was in flight
    assert {s for s, _, _ in rows.values()} == {"sent"}


async def test_sigterm_stops_without_losing_or_duplicating(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    smtp_sink.delay(0.01)
    campaign_id = await campaign_for(client, smtp_sink, 1500)
    await act(client, "startCampaign", campaign_id)
    assert await smtp_sink.wait_for(400, timeout=60)
    assert await stop_process(stack.workers[0], signal.SIGTERM) == 0
    # Everything the server got is recorded as sent; nothing is left claimed.
    rows = await ledger(client, campaign_id)
    sent = {email for email, (s, _, _) in rows.items() if s == "sent"}
    assert sent == set(smtp_sink.recipients())
    assert {s for s, _, _ in rows.values()} == {"sent", "pending"}

    stack.start_worker()
    done = await wait_until(client, campaign_id, *FINAL, within=60)
    assert done["execution"]["totalSent"] == 1500
    assert smtp_sink.recipients() == Counter({r["email"]: 1 for r in audience(1500)})
    assert not any(dup for _, _, dup in (await ledger(client, campaign_id)).values())


async def test_duration_spreads_sends_over_the_window(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    """300 contacts over one minute: evenly spread, the last near the minute's end."""
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 300, executionDurationMinutes=1)
    await act(client, "startCampaign", campaign_id)
    started = await execution(client, campaign_id)
    begin = datetime.fromisoformat(started["execution"]["startedAt"]).timestamp()
    expected_end = datetime.fromisoformat(started["execution"]["expectedCompletionAt"])
    assert expected_end.timestamp() - begin == pytest.approx(60, abs=0.01)
    done = await wait_until(client, campaign_id, *FINAL, within=90)
    assert done["execution"]["totalSent"] == 300
    times = sorted(m.at - begin for m in smtp_sink.messages)
    assert 55 <= times[-1] <= 63
    # Evenly: each 10-second stretch of the minute gets about a sixth of the messages.
    for start in range(0, 60, 10):
        in_stretch = sum(start <= t < start + 10 for t in times)
        assert 40 <= in_stretch <= 60, (start, in_stretch)
