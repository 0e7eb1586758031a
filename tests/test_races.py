"""Concurrent requests answer like sequential ones: two creates of one code give one
object and one DUPLICATE; creates that make codes from the same name all succeed; two
overlapping imports both succeed. Never "Unexpected error.", never a deadlock. Real HTTP,
many requests at once (run on PostgreSQL too: there both creates pass the "is it taken?"
check and the loser's INSERT hits the unique constraint)."""

import asyncio
import random
from typing import Any

import pytest

from tests.support import GraphQLClient, make_channel

CONCURRENT = 8


async def all_at_once(
    client: GraphQLClient, name: str, inputs: list[dict[str, Any]], selection: str
) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(client.mutate(name, i, selection) for i in inputs)))


def one_wins(payloads: list[dict[str, Any]], field: list[str]) -> None:
    won = [p for p in payloads if not p["userErrors"]]
    lost = [p["userErrors"] for p in payloads if p["userErrors"]]
    assert len(won) == 1, payloads
    assert len(lost) == CONCURRENT - 1
    for errors in lost:
        assert [(e["code"], e["field"]) for e in errors] == [("DUPLICATE", field)], errors


CREATES: dict[str, tuple[dict[str, Any], str]] = {
    "createEmailChannel": (
        {"code": "same", "channelType": "MARKETING", "smtpHost": "127.0.0.1"},
        "emailChannel { id }",
    ),
    "createEmailTemplate": (
        {"name": "T", "code": "same", "subject": "S", "bodyHtml": "<p>x</p>"},
        "emailTemplate { id }",
    ),
    "createAudience": ({"name": "A", "code": "same", "tags": ["vip"]}, "audience { id }"),
    "createContact": ({"email": "same@example.test"}, "contact { id }"),
}


@pytest.mark.parametrize("mutation", sorted(CREATES))
async def test_concurrent_creates_of_one_code_give_one_object_and_duplicates(
    client: GraphQLClient, mutation: str
) -> None:
    fields, selection = CREATES[mutation]
    payloads = await all_at_once(client, mutation, [fields] * CONCURRENT, selection)
    field = ["email"] if mutation == "createContact" else ["code"]
    one_wins(payloads, field)


async def test_concurrent_campaigns_of_one_name_all_get_their_own_codes(
    client: GraphQLClient,
) -> None:
    await make_channel(client)
    campaign = {
        "campaignName": "Spring sale",
        "emailChannel": "main",
        "contactTags": ["vip"],
        "subject": "Hi",
        "bodyHtml": "<p>Hi</p>",
    }
    payloads = await all_at_once(
        client,
        "createEmailCampaign",
        [campaign] * CONCURRENT,
        "campaign { audience { code } emailTemplate { code } }",
    )
    assert [p["userErrors"] for p in payloads] == [[]] * CONCURRENT
    audiences = {p["campaign"]["audience"]["code"] for p in payloads}
    templates = {p["campaign"]["emailTemplate"]["code"] for p in payloads}
    expected = {"spring-sale"} | {f"spring-sale-{n}" for n in range(2, CONCURRENT + 1)}
    assert audiences == templates == expected


async def test_overlapping_imports_of_the_same_contacts_all_succeed(
    client: GraphQLClient,
) -> None:
    rows = [{"email": f"c{n}@example.test", "tags": ["vip"]} for n in range(300)]
    orders = [random.Random(seed).sample(rows, len(rows)) for seed in range(CONCURRENT)]
    # Different shapes too: some rows carry a name, so each import runs several upserts.
    for order in orders:
        for row in order[::3]:
            row["firstName"] = "Ann"
    payloads = await all_at_once(
        client,
        "importContacts",
        [{"contacts": order} for order in orders],
        "createdCount updatedCount",
    )
    assert [p["userErrors"] for p in payloads] == [[]] * CONCURRENT
    assert sum(p["createdCount"] for p in payloads) == len(rows)
    data = await client.gql('{ contacts(filter: {tags: ["vip"]}) { totalCount } }')
    assert data["contacts"]["totalCount"] == len(rows)
