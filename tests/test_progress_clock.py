"""One clock for "is this update newer": a worker whose clock runs an hour ahead of the
API's must not make the API's later updates look old (they would be dropped, and a
subscription never hear that its campaign ended)."""

from pathlib import Path

from websockets.asyncio.client import ClientConnection

from tests.sending_stack import act, campaign_for, sending_stack
from tests.smtp_sink import SmtpSink
from tests.test_progress_subscriptions import PROGRESS, receive, socket, subscribe


async def sent(ws: ClientConnection) -> int:
    message = await receive(ws)
    assert message["type"] == "next", message
    total: int = message["payload"]["data"]["executionProgress"]["totalSent"]
    return total


async def test_updates_are_ordered_by_one_clock(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    async with sending_stack(tmp_path, workers=0) as stack:
        stack.start_skewed_worker(3600)
        client = await stack.client()
        campaign_id = await campaign_for(client, smtp_sink, 200, channel={"rateLimit": 20})
        async with socket(client) as ws:
            await subscribe(ws, "p", PROGRESS, {"id": campaign_id})
            await receive(ws)  # the snapshot, by the API
            await act(client, "startCampaign", campaign_id)
            while await sent(ws) == 0:  # until the worker's updates come
                pass
            # Then until it has stopped for the pause (it publishes that too).
            await act(client, "pauseCampaign", campaign_id)
            while (await receive(ws))["payload"]["data"]["executionProgress"]["status"] != (
                "PAUSED"
            ):
                pass
            # Only the API publishes this one, on its own clock before the fix.
            await act(client, "cancelCampaign", campaign_id)
            cancelled = await receive(ws)
            assert cancelled["type"] == "next", cancelled
            assert cancelled["payload"]["data"]["executionProgress"]["campaignStatus"] == (
                "CANCELLED"
            )
            assert await receive(ws) == {"id": "p", "type": "complete"}
