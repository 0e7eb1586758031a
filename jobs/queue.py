"""Enqueueing work. The queue is a hint: the database says what is due, and the sweeper
re-enqueues anything a lost job left behind, so a failed enqueue loses nothing."""

import logging

from arq.connections import ArqRedis

SEND_CAMPAIGN = "send_campaign"
log = logging.getLogger(__name__)


def send_job_id(campaign_id: int) -> str:
    # One queued send job per campaign at a time: arq drops a duplicate job id.
    return f"send-campaign:{campaign_id}"


async def enqueue_send(queue: ArqRedis, campaign_id: int) -> None:
    """Ask a worker to send the campaign's due deliveries (after the commit that made them)."""
    try:
        await queue.enqueue_job(SEND_CAMPAIGN, campaign_id, _job_id=send_job_id(campaign_id))
    except (OSError, ConnectionError) as exc:  # Redis down: the sweeper will pick it up.
        log.warning("could not enqueue campaign %s: %s", campaign_id, exc)
