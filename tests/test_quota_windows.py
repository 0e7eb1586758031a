"""Quota windows (db/quota.py): the bucket a moment counts in, the window at a moment, and
when a full window has room again."""

from datetime import UTC, datetime

import pytest

from db.quota import QuotaWindow, frees_at, period_of, window_from

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

DAY, MOVING = QuotaWindow.UTC_DAY, QuotaWindow.MOVING_24H


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "now", "period", "start"),
    [
        (DAY, "2026-11-29 00:00:00", "2026-11-29 00:00", "2026-11-29 00:00"),
        (DAY, "2026-11-29 23:59:59.999999", "2026-11-29 00:00", "2026-11-29 00:00"),
        (MOVING, "2026-11-29 04:59:59", "2026-11-29 04:00", "2026-11-28 05:00"),
        (MOVING, "2026-11-29 05:00:00", "2026-11-29 05:00", "2026-11-28 06:00"),
        (MOVING, "2026-01-01 00:30:00", "2026-01-01 00:00", "2025-12-31 01:00"),
    ],
)
def test_buckets_and_windows(window: QuotaWindow, now: str, period: str, start: str) -> None:
    assert period_of(window, at(now)) == at(period)
    assert window_from(window, at(now)) == at(start)


@pytest.mark.parametrize(
    ("window", "now", "oldest", "free"),
    [
        # a day's quota comes back at the next UTC midnight, whatever was sent when
        (DAY, "2026-11-29 23:00:00", "2026-11-29 00:00", "2026-11-30 00:00"),
        (DAY, "2026-11-29 00:00:01", None, "2026-11-30 00:00"),
        # a moving window frees as its oldest hour leaves it
        (MOVING, "2026-11-29 23:10:00", "2026-11-29 09:00", "2026-11-30 09:00"),
        (MOVING, "2026-11-29 23:10:00", "2026-11-28 23:00", "2026-11-30 00:00"),
        (MOVING, "2026-11-29 23:10:00", None, "2026-11-30 00:00"),
    ],
)
def test_when_a_full_window_frees(
    window: QuotaWindow, now: str, oldest: str | None, free: str
) -> None:
    assert frees_at(window, at(now), at(oldest) if oldest else None) == at(free)
