"""A Twilio channel's pace, end to end, measured where the messages land (the stand-in's
own clock, to the microsecond): the rate limit across worker processes, SMS counted in
segments, the daily quota, and spreading over the campaign's duration."""

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobs.channels.twilio.transport import TwilioTransport
from tests.messaging_guarantees_stack import (
    at_standin,
    numbers,
    once_each,
    whatsapp_campaign,
)
from tests.messaging_stack import leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import (
    FINAL_STATUSES,
    SendingStack,
    act,
    sending_stack,
    stack,
    wait_until,
)
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]


def received_at(standin: Standin) -> list[float]:
    return sorted(m["standin"]["received_at"] for m in standin.control.messages())


def max_in_window(times: list[float], seconds: float = 1.0) -> int:
    """The most messages made within any `seconds` (a window starting at each message)."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


async def test_rate_limit_holds_across_two_workers(tmp_path: Path, twilio_standin: Standin) -> None:
    """Two worker processes send two campaigns on one channel: its limit is for both."""
    twilio_standin.control.reset()
    async with sending_stack(tmp_path, workers=2) as stack:
        client = await stack.client()
        channel = await twilio_channel_for(client, twilio_standin, "SMS", rateLimit=5)
        first = await messaging_campaign(client, channel, leads(20))
        second = await messaging_campaign(client, channel, leads(20, start=20), name="Second")
        await act(client, "startCampaign", first["id"])
        await act(client, "startCampaign", second["id"])
        for campaign in (first, second):
            done = await wait_until(client, campaign["id"], *FINAL_STATUSES)
            assert (done["execution"]["status"], done["execution"]["totalSent"]) == (
                "COMPLETED",
                20,
            )
    assert at_standin(twilio_standin) == once_each(numbers(40))
    times = received_at(twilio_standin)
    assert max_in_window(times) <= 5
    # 40 messages at 5 a window of 1.25 s fill 8 windows: the last starts 7 windows after
    # the first (a window never holds more than 5).
    assert times[-1] - times[0] >= 7 * TwilioTransport.pacing_window_s - 0.1


async def test_sms_counts_segments_against_the_rate_limit(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """A 2-segment body at 2 segments a second: one message a second."""
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS", rateLimit=2)
    body = "Hi {{first_name}}, your code is {{code}}. " + "Spring sale on everything. " * 6
    campaign = await messaging_campaign(client, channel, leads(6), contentContext={"body": body})
    assert campaign["bodyPreviewSegments"] == 2
    await act(client, "startCampaign", campaign["id"])
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 6)
    sent = twilio_standin.control.messages()
    assert {m["num_segments"] for m in sent} == {"2"}
    assert at_standin(twilio_standin) == once_each(numbers(6))
    times = received_at(twilio_standin)
    assert max_in_window(times) == 1
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0, gaps


async def test_the_whatsapp_quota_over_a_moving_day_halts_the_campaign(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "WHATSAPP", dailyQuota=5)
    campaign, _ = await whatsapp_campaign(client, twilio_standin, channel, leads(8))
    await act(client, "startCampaign", campaign["id"])
    halted = await wait_until(client, campaign["id"], "HALTED")
    assert "quota of 5 messages in a moving 24 hours" in halted["execution"]["errorMessage"]
    assert halted["execution"]["totalSent"] == 5
    # Room comes back when this hour's messages leave the window: in 24 hours, not at
    # midnight (Meta's messaging limit is a moving window).
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    next_run = datetime.fromisoformat(halted["execution"]["nextRunAt"])
    assert next_run in (this_hour + timedelta(days=1), this_hour + timedelta(days=1, hours=-1))
    await asyncio.sleep(2.5)  # a sweep or two later, still nothing more
    assert sum(at_standin(twilio_standin).values()) == 5
    assert max(at_standin(twilio_standin).values()) == 1


async def test_duration_spreads_sends_over_the_window(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    """30 leads over one minute: one every two seconds. The first 20 s are measured (about
    ten messages, evenly), then the campaign is cancelled."""
    twilio_standin.control.reset()
    client = await stack.client()
    channel = await twilio_channel_for(client, twilio_standin, "SMS", rateLimit=None)
    campaign = await messaging_campaign(client, channel, leads(30), executionDurationMinutes=1)
    await act(client, "startCampaign", campaign["id"])
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { execution { startedAt expectedCompletionAt } } }",
        {"id": campaign["id"]},
    )
    begin = datetime.fromisoformat(data["campaign"]["execution"]["startedAt"]).timestamp()
    end = datetime.fromisoformat(data["campaign"]["execution"]["expectedCompletionAt"])
    assert end.timestamp() - begin == pytest.approx(60, abs=0.01)
    await asyncio.sleep(begin + 20 - datetime.now().timestamp())
    await act(client, "cancelCampaign", campaign["id"])
    times = [t - begin for t in received_at(twilio_standin) if t - begin < 20]
    # Evenly: each 5-second stretch gets about 2.5 messages.
    for start in range(0, 20, 5):
        in_stretch = sum(start <= t < start + 5 for t in times)
        assert 1 <= in_stretch <= 4, (start, times)
    assert 8 <= len(times) <= 12, times
