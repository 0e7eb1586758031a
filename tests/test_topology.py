"""Many processes, one truth: two API processes (`clarion serve` without a worker) and three
`clarion worker` processes on one database and one Redis. A campaign is sent while the
worker running it is SIGKILLed and the next one SIGTERMed: every recipient gets it, and
only the messages of the killed worker's last batch may come twice, each of them flagged
in the ledger; the channel's rate holds across all the workers; subscribers on both APIs
see it complete. A scheduled campaign starts once, whichever worker's sweep finds it."""

import asyncio
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from db.models import Delivery
from jobs.runner_lock import runner_key
from tests.sending_stack import (
    FINAL_STATUSES,
    SendingStack,
    act,
    audience,
    campaign_for,
    email_campaign,
    sending_stack,
    stop_process,
    wait_until,
)
from tests.smtp_sink import SmtpSink, smtp_sink
from tests.support import GraphQLClient, Server, import_contacts, pk_of
from tests.test_progress_subscriptions import PROGRESS, receive, socket, subscribe

__all__ = ["smtp_sink"]

RATE = 50


async def runner_pid(stack: SendingStack, campaign_id: str, within: float = 20) -> int:
    """The process holding the campaign's runner lock (its token starts with the pid)."""
    redis = Redis.from_url(stack.env["CLARION_REDIS_URL"])
    try:
        for _ in range(int(within / 0.05)):
            if token := await redis.get(runner_key(pk_of(campaign_id, "Campaign"))):
                return int(token.split(b"-", 1)[0])
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()
    raise AssertionError("no runner took the campaign")


async def completion(client: GraphQLClient, campaign_id: str) -> list[dict[str, Any]]:
    """Every progress message one subscriber of `client`'s API gets, to the last."""
    seen = []
    async with socket(client) as ws:
        await subscribe(ws, "1", PROGRESS, {"id": campaign_id})
        while (message := await receive(ws, within=60))["type"] == "next":
            seen.append(message["payload"]["data"]["executionProgress"])
        assert message == {"id": "1", "type": "complete"}, message
    return seen


async def test_two_apis_and_three_workers_send_as_one(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    async with sending_stack(tmp_path, workers=0) as stack:
        owner = await stack.client()
        apis = [
            GraphQLClient(
                Server(url, stack.server.db, stack.server.settings), owner.key, owner.account_id
            )
            for _, url in [await stack.start_api(f"api-{i}") for i in range(2)]
        ]
        workers = {w.pid: w for w in (stack.start_worker() for _ in range(3))}
        campaign_id = await campaign_for(apis[0], smtp_sink, 300, channel={"rateLimit": RATE})
        later_rows = [{**row, "tags": ["later"]} for row in audience(20, tag="later")]
        for row in later_rows:
            row["email"] = row["email"].replace("@", "+later@")
        await import_contacts(apis[1], later_rows)
        later = await email_campaign(apis[1], "main", campaignName="Later", contactTags=["later"])
        at = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
        scheduled = await apis[1].mutate(
            "scheduleCampaign", {"id": later, "scheduledAt": at}, "campaign { status }"
        )
        assert scheduled["userErrors"] == [], scheduled

        watchers = [asyncio.create_task(completion(api, campaign_id)) for api in apis]
        await asyncio.sleep(0.5)  # both subscribed
        await act(apis[0], "startCampaign", campaign_id)
        assert await smtp_sink.wait_for(60, timeout=30)
        killed = workers.pop(await runner_pid(stack, campaign_id))
        killed.send_signal(signal.SIGKILL)
        assert await smtp_sink.wait_for(120, timeout=60)  # another worker took it over
        stopped = workers.pop(await runner_pid(stack, campaign_id))
        assert await stop_process(stopped) == 0

        seen = await asyncio.gather(*watchers)
        for messages in seen:
            assert messages[-1]["status"] == "COMPLETED", messages[-1]
            assert messages[-1]["totalSent"] == 300
        done = await wait_until(apis[0], campaign_id, *FINAL_STATUSES)
        assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 300)
        async with stack.server.db.read() as session:
            flagged = set(
                (
                    await session.scalars(
                        select(Delivery.address).where(
                            Delivery.campaign_id == pk_of(campaign_id, "Campaign"),
                            Delivery.possible_duplicate.is_(True),
                        )
                    )
                ).all()
            )
        first = Counter(r for r in smtp_sink.recipients().elements() if "+later@" not in r)
        assert set(first) == {row["email"] for row in audience(300)}
        twice = {address for address, n in first.items() if n > 1}
        assert twice <= flagged, twice - flagged  # every second copy is in the ledger
        assert max(first.values()) <= 2
        assert smtp_sink.max_in_window(1.0) <= RATE

        done_later = await wait_until(apis[1], later, *FINAL_STATUSES, within=30)
        assert done_later["execution"]["totalSent"] == 20
        later_copies = Counter(r for r in smtp_sink.recipients().elements() if "+later@" in r)
        assert later_copies == Counter({row["email"]: 1 for row in later_rows})
