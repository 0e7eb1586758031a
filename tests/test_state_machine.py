"""The transition table, over every (status, action) pair."""

import itertools

import pytest

from db.enums import CampaignStatus as S
from db.state_machine import FINAL_STATUSES, TRANSITIONS, Action, allowed_from, next_status

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

# The spec's allowed-from column, written out independently of the table.
EXPECTED: dict[Action, dict[S, S]] = {
    Action.START: {S.DRAFT: S.RUNNING, S.SCHEDULED: S.RUNNING},
    Action.START_LATER: {S.DRAFT: S.SCHEDULED, S.SCHEDULED: S.SCHEDULED},
    Action.SCHEDULE: {S.DRAFT: S.SCHEDULED},
    Action.BEGIN_SENDING: {S.SCHEDULED: S.RUNNING},
    Action.PAUSE: {S.RUNNING: S.PAUSED},
    Action.RESUME: {S.PAUSED: S.RUNNING},
    Action.CANCEL: {
        S.DRAFT: S.CANCELLED,
        S.SCHEDULED: S.CANCELLED,
        S.RUNNING: S.CANCELLED,
        S.PAUSED: S.CANCELLED,
    },
    Action.FINISH: {S.RUNNING: S.COMPLETED},
    Action.FAIL: {S.RUNNING: S.FAILED, S.SCHEDULED: S.FAILED},
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(S, Action)))
def test_every_pair(status: S, action: Action) -> None:
    assert next_status(status, action) == EXPECTED[action].get(status)


def test_final_statuses_allow_nothing() -> None:
    assert {status for status, _ in TRANSITIONS}.isdisjoint(FINAL_STATUSES)


def test_allowed_from_lists_the_sources() -> None:
    assert allowed_from(Action.CANCEL) == [S.DRAFT, S.SCHEDULED, S.RUNNING, S.PAUSED]
