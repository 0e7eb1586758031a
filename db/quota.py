"""A channel's quota window: how its usage is bucketed and when room comes back. Pure.

Email and SMS count messages per UTC day. WhatsApp's quota is Meta's messaging limit:
unique recipients of business-initiated messages in a moving 24 hours; it is counted in
hourly buckets over the last 24 (the current hour and the 23 before), and messages rather
than unique recipients — never fewer than Meta counts, so the limit is never passed.
"""

from datetime import datetime, timedelta
from enum import StrEnum


class QuotaWindow(StrEnum):
    UTC_DAY = "utc_day"
    MOVING_24H = "moving_24h"


_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)


def period_of(window: QuotaWindow, now: datetime) -> datetime:
    """The start of the bucket that `now` counts in."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return hour.replace(hour=0) if window is QuotaWindow.UTC_DAY else hour


def window_from(window: QuotaWindow, now: datetime) -> datetime:
    """Buckets starting at or after this are in the window at `now`."""
    if window is QuotaWindow.UTC_DAY:
        return period_of(window, now)
    return period_of(window, now) - 23 * _HOUR


def frees_at(window: QuotaWindow, now: datetime, oldest: datetime | None) -> datetime:
    """When room comes back in a full window: the next UTC midnight; or when its oldest
    bucket with messages leaves the moving window."""
    if window is QuotaWindow.UTC_DAY or oldest is None:
        return period_of(QuotaWindow.UTC_DAY, now) + _DAY
    return max(oldest + _DAY, period_of(window, now) + _HOUR)


def used_up(window: QuotaWindow, quota: int) -> str:
    if window is QuotaWindow.UTC_DAY:
        return f"The channel's daily quota of {quota:,} messages is used up for today (UTC)."
    return (
        f"The channel's quota of {quota:,} messages in a moving 24 hours (Meta's messaging "
        "limit) is used up; sending continues as the oldest leave the window."
    )
