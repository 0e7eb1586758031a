"""A contact's consent history through the API: updateContact and importContacts change
consent through change_consent (recorded, source API; a withdrawal opts out the contact's
pending leads), and Contact.consentChanges lists the changes newest first."""

from typing import Any

from sqlalchemy import select

from db.enums import DeliveryStatus
from db.models import Delivery
from tests.support import (
    GraphQLClient,
    NewClient,
    import_contacts,
    make_channel,
    make_email_campaign,
    pk_of,
)

CHANGES = """
query($id: ID!, $first: Int, $after: String) {
  node(id: $id) {
    ... on Contact {
      consentChanges(first: $first, after: $after) {
        edges { node { channel granted source reason at } }
        pageInfo { hasNextPage endCursor }
        totalCount
      }
    }
  }
}
"""


async def changes(
    client: GraphQLClient, contact_id: str, first: int = 100, after: str | None = None
) -> dict[str, Any]:
    data = await client.gql(CHANGES, {"id": contact_id, "first": first, "after": after})
    page: dict[str, Any] = data["node"]["consentChanges"]
    return page


def plain(page: dict[str, Any]) -> list[tuple[str, bool, str, str]]:
    return [
        (e["node"]["channel"], e["node"]["granted"], e["node"]["source"], e["node"]["reason"])
        for e in page["edges"]
    ]


async def contact_id(client: GraphQLClient, email: str) -> str:
    data = await client.gql(
        "query($q: String!) { contacts(filter: {q: $q}) { edges { node { id } } } }", {"q": email}
    )
    (edge,) = data["contacts"]["edges"]
    found: str = edge["node"]["id"]
    return found


CONSENT = "contact { marketingConsent { email sms whatsapp } }"


async def test_api_changes_are_recorded_newest_first(client: GraphQLClient) -> None:
    created = await client.mutate(
        "createContact",
        {"email": "ann@example.test", "marketingConsent": {"sms": False}},
        "contact { id }",
    )
    ann = created["contact"]["id"]
    # A new contact's consent is where it starts, not a change.
    assert plain(await changes(client, ann)) == []

    updated = await client.mutate(
        "updateContact", {"id": ann, "marketingConsent": {"sms": True, "whatsapp": False}}, CONSENT
    )
    assert updated["contact"]["marketingConsent"] == {"email": True, "sms": True, "whatsapp": False}
    # The same values again change nothing, so nothing is recorded.
    again = await client.mutate(
        "updateContact", {"id": ann, "marketingConsent": {"sms": True, "whatsapp": False}}, CONSENT
    )
    assert again["userErrors"] == []
    await import_contacts(
        client,
        [
            {"email": "ann@example.test", "marketingConsent": {"email": False, "whatsapp": True}},
            {"email": "new@example.test", "marketingConsent": {"email": False}},
        ],
    )
    page = await changes(client, ann)
    assert plain(page) == [
        ("WHATSAPP", True, "API", "Given through the API (importContacts)"),
        ("EMAIL", False, "API", "Withdrawn through the API (importContacts)"),
        ("WHATSAPP", False, "API", "Withdrawn through the API (updateContact)"),
        ("SMS", True, "API", "Given through the API (updateContact)"),
    ]
    times = [e["node"]["at"] for e in page["edges"]]
    assert times == sorted(times, reverse=True)
    assert page["totalCount"] == 4
    data = await client.gql(
        f"query($id: ID!) {{ node(id: $id) {{ ... on Contact {{ {CONSENT[10:-2]} }} }} }}",
        {"id": ann},
    )
    assert data["node"]["marketingConsent"] == {"email": False, "sms": True, "whatsapp": True}
    # The imported new contact starts without email consent: no change recorded.
    assert plain(await changes(client, await contact_id(client, "new@example.test"))) == []

    first = await changes(client, ann, first=3)
    assert (len(first["edges"]), first["pageInfo"]["hasNextPage"]) == (3, True)
    rest = await changes(client, ann, first=3, after=first["pageInfo"]["endCursor"])
    assert plain(rest) == [("SMS", True, "API", "Given through the API (updateContact)")]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_a_refused_update_records_nothing(client: GraphQLClient) -> None:
    await import_contacts(client, [{"email": "ann@example.test"}, {"email": "bob@example.test"}])
    ann = await contact_id(client, "ann@example.test")
    before = await client.snapshot()
    for bad in (
        {"email": "bob@example.test"},  # another contact's
        {"firstName": "A\x1bnn"},
        {"firstName": "x" * 101},
    ):
        refused = await client.mutate(
            "updateContact", {"id": ann, **bad, "marketingConsent": {"email": False}}, CONSENT
        )
        assert refused["contact"] is None
        assert refused["userErrors"] != []
    nul = await client.raw(
        "mutation($input: UpdateContactInput!) { updateContact(input: $input) { contact { id } } }",
        {"input": {"id": ann, "firstName": "A\x00", "marketingConsent": {"email": False}}},
    )
    assert nul.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    refused = await client.mutate(
        "importContacts",
        {
            "contacts": [
                {"email": "ann@example.test", "marketingConsent": {"sms": False}},
                {"email": "bad@", "marketingConsent": {"sms": False}},
            ]
        },
        "createdCount",
    )
    assert [e["field"] for e in refused["userErrors"]] == [["contacts", "1", "email"]]
    assert await client.snapshot() == before
    assert plain(await changes(client, ann)) == []


async def test_a_page_is_at_most_100(client: GraphQLClient) -> None:
    await import_contacts(client, [{"email": "ann@example.test"}])
    ann = await contact_id(client, "ann@example.test")
    response = await client.raw(CHANGES, {"id": ann, "first": 101})
    assert "Page size must be between 0 and 100." in response.text


async def test_another_accounts_contact_shows_nothing(
    client: GraphQLClient, new_client: NewClient
) -> None:
    await import_contacts(client, [{"email": "ann@example.test"}])
    ann = await contact_id(client, "ann@example.test")
    await client.mutate("updateContact", {"id": ann, "marketingConsent": {"sms": False}}, CONSENT)
    other = await new_client("Other")
    data = await other.gql(CHANGES, {"id": ann, "first": 10, "after": None})
    assert data["node"] is None


async def test_a_withdrawal_through_the_api_opts_out_pending_leads(client: GraphQLClient) -> None:
    """No worker here: a started campaign stays running with every row pending."""
    await make_channel(client)
    await import_contacts(
        client,
        [
            {"email": "ann@example.test", "tags": ["vip"]},
            {"email": "bob@example.test", "tags": ["vip"]},
        ],
    )
    campaign = await make_email_campaign(client)
    started = await client.mutate("startCampaign", {"id": campaign["id"]}, "campaign { status }")
    assert started["campaign"]["status"] == "RUNNING"
    ann = await contact_id(client, "ann@example.test")
    await client.mutate("updateContact", {"id": ann, "marketingConsent": {"email": False}}, CONSENT)
    async with client.server.db.read() as session:
        rows = await session.execute(
            select(Delivery.address, Delivery.status, Delivery.error_message).where(
                Delivery.campaign_id == pk_of(campaign["id"], "Campaign")
            )
        )
        found = sorted(tuple(row) for row in rows)
    assert found == [
        (
            "ann@example.test",
            DeliveryStatus.OPTED_OUT,
            "The contact withdrew consent: Withdrawn through the API (updateContact)",
        ),
        ("bob@example.test", DeliveryStatus.PENDING, ""),
    ]
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { execution { totalContacts totalSkipped } } }",
        {"id": campaign["id"]},
    )
    assert data["campaign"]["execution"] == {"totalContacts": 2, "totalSkipped": 1}
