"""The recorder when the database refuses a batch's results for what they hold (a value a
column cannot take, a constraint): no retrying for ever. The batch stays claimed, the run
goes on with the next batches, and when the lease runs out the rows are claimed again as
possible duplicates and looked up at Twilio, not sent twice. (Transient refusals, a
locked or lost database, are still retried: tests/test_send_guarantees.py.)

The refusal is the database's own, from a trigger the test installs on the ledger: on
SQLite a constraint failure (IntegrityError), on PostgreSQL the SQLSTATE of a value too
long for its column (22001), which asyncpg hands SQLAlchemy as a bare DBAPIError."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError

from jobs.send import cannot_succeed
from tests.messaging_guarantees_stack import (
    at_standin,
    by_number,
    claimed,
    numbers,
    once_each,
    poll,
    sent_at_least,
)
from tests.messaging_stack import leads, messaging_campaign, twilio_channel_for
from tests.sending_stack import FINAL_STATUSES, SendingStack, act, stack, wait_until
from tests.support import Server
from tests.twilio_standin.fixture import Standin, twilio_standin

__all__ = ["stack", "twilio_standin"]

REFUSED = "the database refused a batch's results"


def _refusal(address: str, sqlite: bool) -> list[str]:
    """Statements that make the database refuse marking `address`'s row sent."""
    when = f"NEW.status = 'sent' AND NEW.address = '{address}'"
    if sqlite:
        return [
            "CREATE TRIGGER refuse_sent BEFORE UPDATE OF status ON deliveries "
            f"WHEN {when} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
    return [
        "CREATE FUNCTION refuse_sent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'value too long (the test)' USING ERRCODE = "
        "'string_data_right_truncation'; END $$",
        "CREATE TRIGGER refuse_sent BEFORE UPDATE ON deliveries FOR EACH ROW "
        f"WHEN ({when}) EXECUTE FUNCTION refuse_sent()",
    ]


@asynccontextmanager
async def refusing_to_record(stack: SendingStack, address: str) -> AsyncIterator[None]:
    sqlite = stack.env["CLARION_DATABASE_URL"].startswith("sqlite")
    async with stack.server.db.write() as session:
        for statement in _refusal(address, sqlite):
            await session.execute(text(statement))
    try:
        yield
    finally:
        async with stack.server.db.write() as session:
            await session.execute(
                text("DROP TRIGGER refuse_sent" + ("" if sqlite else " ON deliveries"))
            )
            if not sqlite:
                await session.execute(text("DROP FUNCTION refuse_sent()"))


async def test_a_batch_the_database_refuses_stays_claimed_and_the_run_goes_on(
    stack: SendingStack, twilio_standin: Standin
) -> None:
    twilio_standin.control.reset()
    client = await stack.client()
    # 50 a second: one message a batch, so the refused batch is the target's alone.
    channel = await twilio_channel_for(client, twilio_standin, "SMS", rateLimit=50)
    campaign = await messaging_campaign(client, channel, leads(8))
    target = numbers(8)[1]
    async with refusing_to_record(stack, target):
        await act(client, "startCampaign", campaign["id"])
        # Every lead's message went, those after the refused batch too: the run did not
        # stop to retry a write that cannot succeed.
        await sent_at_least(twilio_standin, 8, within=30)

        async def logged() -> bool:
            return REFUSED in stack.worker_log(0)

        await poll(logged, within=10)
        # Its row stays claimed (the lease decides what becomes of it), unrecorded.
        assert target in await claimed(client, campaign["id"])
        assert "retrying" not in stack.worker_log(0)
        assert stack.worker_log(0).count(REFUSED) == 1

    # The lease runs out; the row is claimed again as a possible duplicate, its message
    # found at Twilio and recorded: never sent a second time.
    done = await wait_until(client, campaign["id"], *FINAL_STATUSES, within=40)
    assert (done["execution"]["status"], done["execution"]["totalSent"]) == ("COMPLETED", 8)
    assert at_standin(twilio_standin) == once_each(numbers(8))
    sid = next(m["sid"] for m in twilio_standin.control.messages() if m["to"] == target)
    lead = (await by_number(client, campaign["id"]))[target]
    assert (lead["status"], lead["messageSid"], lead["possibleDuplicate"]) == ("SENT", sid, False)


async def error_of(server: Server, *statements: str) -> DBAPIError:
    """What the database raises for the last of `statements` in one write (rolled back)."""

    async def run() -> None:
        async with server.db.write() as session:
            for statement in statements:
                await session.execute(text(statement))

    with pytest.raises(DBAPIError) as caught:
        await run()
    return caught.value


async def test_refusals_are_told_from_passing_states(server: Server) -> None:
    """The test database's own errors: a value or a constraint it refuses (the same write
    fails again, however long the recorder waits) against a statement cancelled for taking
    too long (a retry may well pass)."""
    null = await error_of(server, "INSERT INTO server_secrets (name, value) VALUES ('t', NULL)")
    assert cannot_succeed(null)
    if server.settings.database_url.startswith("sqlite"):
        return
    too_long = await error_of(
        server, "INSERT INTO server_secrets (name, value) VALUES (repeat('x', 51), 'v')"
    )
    not_a_number = await error_of(server, "SELECT CAST('12x' AS INTEGER)")
    for refused in (too_long, not_a_number):
        # asyncpg's data exceptions are no DataError to SQLAlchemy: the SQLSTATE tells.
        assert not isinstance(refused, DataError)
        assert cannot_succeed(refused)
    slow = await error_of(server, "SET LOCAL statement_timeout = 10", "SELECT pg_sleep(1)")
    assert not cannot_succeed(slow)
