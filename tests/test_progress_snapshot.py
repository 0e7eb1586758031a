"""Progress snapshots survive the trip through Redis pub/sub unchanged."""

from datetime import UTC, datetime

import pytest

from db.enums import CampaignStatus, ExecutionStatus
from jobs.progress import Snapshot

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

AT = datetime(2026, 11, 23, 12, 0, 1, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("campaign", "execution", "final"),
    [
        (CampaignStatus.DRAFT, None, False),
        (CampaignStatus.RUNNING, ExecutionStatus.PROCESSING, False),
        (CampaignStatus.RUNNING, ExecutionStatus.HALTED, False),
        (CampaignStatus.PAUSED, ExecutionStatus.PAUSED, False),
        (CampaignStatus.COMPLETED, ExecutionStatus.PARTIALLY_COMPLETED, True),
        (CampaignStatus.CANCELLED, None, True),  # cancelled before it started
        (CampaignStatus.FAILED, ExecutionStatus.FAILED, True),
    ],
)
def test_round_trip(
    campaign: CampaignStatus, execution: ExecutionStatus | None, final: bool
) -> None:
    snapshot = Snapshot(
        campaign_id=7,
        account_id=3,
        campaign_status=campaign,
        execution_status=execution,
        total_contacts=100,
        total_sent=40,
        total_failed=1,
        total_skipped=2,
        started_at=AT,
        expected_completion_at=None,
        next_run_at=AT,
        error_message="450 later",
        send_rate_per_minute=600,
        eta=AT,
        at=AT,
    )
    assert Snapshot.from_json(snapshot.to_json()) == snapshot
    assert snapshot.final is final


def test_lead_figures_round_trip() -> None:
    snapshot = Snapshot(
        campaign_id=7,
        account_id=3,
        campaign_status=CampaignStatus.COMPLETED,
        execution_status=ExecutionStatus.COMPLETED,
        total_contacts=7,
        total_sent=7,
        total_failed=0,
        total_skipped=0,
        started_at=AT,
        expected_completion_at=None,
        next_run_at=None,
        error_message="",
        send_rate_per_minute=0,
        eta=None,
        at=AT,
        total_delivered=6,
        total_read=4,
        total_replied=3,
        total_converted=1,
        reply_rate=42.86,
        conversion_rate=14.29,
    )
    assert Snapshot.from_json(snapshot.to_json()) == snapshot
