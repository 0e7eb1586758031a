"""The campaign status machine: one table of (status, action) -> next status.

Anything not in the table is refused. Starting a campaign whose `scheduled_at` lies in
the future is `start_later`: it stays or becomes `scheduled`, and the sweeper begins
sending when it is due (`begin_sending`). The sending engine ends a running campaign
with `finish` or `fail`.
"""

from enum import StrEnum

from db.enums import CampaignStatus as S


class Action(StrEnum):
    START = "start"
    START_LATER = "start_later"  # start, but scheduled_at lies in the future
    SCHEDULE = "schedule"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    BEGIN_SENDING = "begin_sending"  # a scheduled campaign's time came
    FINISH = "finish"  # every recipient attempted
    FAIL = "fail"  # nothing could be sent, or a scheduled start found the campaign unready


TRANSITIONS: dict[tuple[S, Action], S] = {
    (S.DRAFT, Action.START): S.RUNNING,
    (S.SCHEDULED, Action.START): S.RUNNING,
    (S.DRAFT, Action.START_LATER): S.SCHEDULED,
    (S.SCHEDULED, Action.START_LATER): S.SCHEDULED,
    (S.DRAFT, Action.SCHEDULE): S.SCHEDULED,
    (S.SCHEDULED, Action.BEGIN_SENDING): S.RUNNING,
    (S.RUNNING, Action.PAUSE): S.PAUSED,
    (S.PAUSED, Action.RESUME): S.RUNNING,
    (S.DRAFT, Action.CANCEL): S.CANCELLED,
    (S.SCHEDULED, Action.CANCEL): S.CANCELLED,
    (S.RUNNING, Action.CANCEL): S.CANCELLED,
    (S.PAUSED, Action.CANCEL): S.CANCELLED,
    (S.RUNNING, Action.FINISH): S.COMPLETED,
    (S.RUNNING, Action.FAIL): S.FAILED,
    (S.SCHEDULED, Action.FAIL): S.FAILED,
}

FINAL_STATUSES = frozenset({S.COMPLETED, S.CANCELLED, S.FAILED})
EDITABLE_STATUSES = frozenset({S.DRAFT, S.SCHEDULED})
# Fields that may change whatever the status.
ALWAYS_EDITABLE_FIELDS = frozenset({"name", "description"})


def next_status(current: S, action: Action) -> S | None:
    """The status after `action`, or None when the action is not allowed from `current`."""
    return TRANSITIONS.get((current, action))


def allowed_from(action: Action) -> list[S]:
    return [status for (status, act) in TRANSITIONS if act is action]
