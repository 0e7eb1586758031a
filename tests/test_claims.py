"""The ledger's claims, directly: concurrent claimers never get the same row, only the
claim holding a row can record it, and an expired lease comes back flagged."""

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from db.enums import DeliveryStatus
from db.models import Delivery
from db.types import utcnow
from db.usecases import ledger
from db.usecases.send_plan import SendPlan, start_run
from tests.support import GraphQLClient, import_contacts, make_channel, make_email_campaign, pk_of

LEASE = timedelta(seconds=60)


async def running_campaign(client: GraphQLClient, contacts: int) -> SendPlan[Any]:
    """A started campaign (this server runs no worker, so nobody else claims)."""
    await make_channel(client)
    await import_contacts(
        client, [{"email": f"c{i}@example.test", "tags": ["vip"]} for i in range(contacts)]
    )
    campaign = await make_email_campaign(client)
    payload = await client.mutate("startCampaign", {"id": campaign["id"]}, "campaign { status }")
    assert payload["userErrors"] == []
    async with client.server.db.write() as session:
        plan = await start_run(session, pk_of(campaign["id"], "Campaign"), utcnow())
    assert plan is not None
    return plan


async def claim(client: GraphQLClient, plan: SendPlan[Any], token: str, n: int) -> ledger.Claim:
    async with client.server.db.write() as session:
        return await ledger.claim(session, plan, n, LEASE, token)


async def test_concurrent_claims_never_overlap(client: GraphQLClient) -> None:
    plan = await running_campaign(client, 300)

    async def claimer(token: str) -> list[int]:
        got: list[int] = []
        while (batch := await claim(client, plan, token, 7)).rows:
            got += [row.id for row in batch.rows]
            assert {row.message_id for row in batch.rows} == {
                f"<{row.id}.{token}@acme.test>" for row in batch.rows
            }
        assert batch.stop is ledger.Stop.NOTHING_DUE
        return got

    claimed = await asyncio.gather(*(claimer(f"t{i}") for i in range(6)))
    every = [row for rows in claimed for row in rows]
    assert len(every) == len(set(every)) == 300


async def test_only_the_holding_claim_records(client: GraphQLClient) -> None:
    plan = await running_campaign(client, 3)
    batch = await claim(client, plan, "mine", 10)
    ids = [row.id for row in batch.rows]
    async with client.server.db.write() as session:
        await ledger.record(
            session, plan, "stranger", ledger.Results(sent=ids), utcnow(), (1.0,), None
        )
    assert await statuses(client, plan) == dict.fromkeys(ids, ("sending", False))
    async with client.server.db.write() as session:
        await ledger.record(
            session,
            plan,
            "mine",
            ledger.Results(sent=ids[:1], failed=[(ids[1], "550 no")], released=ids[2:]),
            utcnow(),
            (1.0,),
            None,
        )
    assert await statuses(client, plan) == {
        ids[0]: ("sent", False),
        ids[1]: ("failed", False),
        ids[2]: ("pending", False),
    }


async def test_an_expired_lease_is_claimed_again_as_a_possible_duplicate(
    client: GraphQLClient,
) -> None:
    plan = await running_campaign(client, 2)
    first = await claim(client, plan, "dead", 10)
    assert (await claim(client, plan, "next", 10)).stop is ledger.Stop.NOTHING_DUE
    async with client.server.db.write() as session:  # the dead claimer's lease runs out
        await session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == plan.campaign_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    again = await claim(client, plan, "next", 10)
    assert [r.id for r in again.rows] == [r.id for r in first.rows]
    assert await statuses(client, plan) == {r.id: ("sending", True) for r in first.rows}


async def statuses(client: GraphQLClient, plan: SendPlan[Any]) -> dict[int, tuple[str, bool]]:
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(Delivery.id, Delivery.status, Delivery.possible_duplicate).where(
                Delivery.campaign_id == plan.campaign_id
            )
        )
        return {i: (DeliveryStatus(s).value, dup) for i, s, dup in rows}
