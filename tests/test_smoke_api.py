"""The quick-start sequence of the README, through real HTTP."""

from tests.support import GraphQLClient, import_contacts, make_channel, make_email_campaign


async def test_quick_start_sequence(client: GraphQLClient) -> None:
    await make_channel(client)
    await import_contacts(
        client,
        [
            {"email": "ann@example.test", "firstName": "Ann", "tags": ["vip"]},
            {"email": "bob@example.test", "tags": ["vip"], "marketingConsent": {"email": False}},
        ],
    )
    campaign = await make_email_campaign(client)
    assert campaign["status"] == "DRAFT"

    started = await client.mutate(
        "startCampaign",
        {"id": campaign["id"]},
        "campaign { status execution { status totalContacts totalSkipped } }",
    )
    assert started["userErrors"] == []
    assert started["campaign"] == {
        "status": "RUNNING",
        "execution": {"status": "PENDING", "totalContacts": 1, "totalSkipped": 1},
    }

    ltv = await client.mutate(
        "addLtv",
        {
            "campaignId": campaign["id"],
            "value": "19.99",
            "currency": "USD",
            "contactEmail": "ann@example.test",
        },
        "campaign { ltv ltvCurrency } contact { email ltv }",
    )
    assert ltv == {
        "campaign": {"ltv": "19.99", "ltvCurrency": "USD"},
        "contact": {"email": "ann@example.test", "ltv": "19.99"},
        "userErrors": [],
    }
