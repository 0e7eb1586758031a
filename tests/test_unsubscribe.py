"""Unsubscribe links: every message's link withdraws exactly its contact's email consent,
by the page's button or an RFC 8058 one-click POST; a forged link changes nothing."""

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, update

from db import models
from db.unsubscribe import LEGACY_CUTOFF, make_legacy_token, signing_key
from tests.sending_stack import (
    FINAL_STATUSES,
    SendingStack,
    act,
    campaign_for,
    channel_for,
    email_campaign,
    stack,
    wait_until,
)
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, import_contacts, pk_of

__all__ = ["stack"]


async def consent(client: GraphQLClient) -> dict[str, bool]:
    data = await client.gql(
        "{ contacts(first: 100) { edges { node { email marketingConsent { email } } } } }"
    )
    return {
        e["node"]["email"]: e["node"]["marketingConsent"]["email"]
        for e in data["contacts"]["edges"]
    }


async def test_one_click_unsubscribe(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 3)
    await act(client, "startCampaign", campaign_id)
    await wait_until(client, campaign_id, *FINAL_STATUSES)
    links = {m.rcpt_tos[0]: m.message()["List-Unsubscribe"].strip("<>") for m in smtp_sink.messages}
    ann = "c000001@example.test"

    async with httpx.AsyncClient() as http:
        page = await http.get(links[ann])
        assert page.status_code == 200
        assert ann in page.text
        assert "Acme" in page.text
        assert await consent(client) == dict.fromkeys(links, True)

        forged = links[ann].rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
        for method in ("GET", "POST"):
            response = await http.request(method, forged)
            assert response.status_code == 404
        assert await consent(client) == dict.fromkeys(links, True)

        done = await http.post(links[ann], data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert ann in done.text
    assert await consent(client) == {**dict.fromkeys(links, True), ann: False}

    # The next campaign to the same audience leaves the contact out.
    payload = await client.mutate(
        "createEmailCampaign",
        {
            "campaignName": "Again",
            "emailChannel": "main",
            "contactTags": ["vip"],
            "subject": "Again",
            "bodyHtml": "<p>again</p>",
        },
        "campaign { id }",
    )
    again = await client.mutate(
        "startCampaign",
        {"id": payload["campaign"]["id"]},
        "campaign { execution { totalContacts totalSkipped } }",
    )
    assert again["campaign"]["execution"] == {"totalContacts": 2, "totalSkipped": 1}


def links_of(smtp_sink: SmtpSink) -> dict[str, str]:
    return {m.rcpt_tos[0]: m.message()["List-Unsubscribe"].strip("<>") for m in smtp_sink.messages}


async def contact_id(client: GraphQLClient, email: str) -> str:
    data = await client.gql(
        "query($q: String!) { contacts(filter: {q: $q}) { edges { node { id } } } }", {"q": email}
    )
    (edge,) = data["contacts"]["edges"]
    ident: str = edge["node"]["id"]
    return ident


async def test_a_link_outlives_its_campaign(stack: SendingStack, smtp_sink: SmtpSink) -> None:
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 2)
    await act(client, "startCampaign", campaign_id)
    await wait_until(client, campaign_id, *FINAL_STATUSES)
    links = links_of(smtp_sink)
    ann = "c000001@example.test"
    deleted = await client.mutate("deleteCampaign", {"id": campaign_id}, "deletedId")
    assert deleted["userErrors"] == []

    async with httpx.AsyncClient() as http:
        page = await http.get(links[ann])
        assert page.status_code == 200
        assert ann in page.text
        done = await http.post(links[ann], data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert ann in done.text
    assert await consent(client) == {**dict.fromkeys(links, True), ann: False}


async def test_a_link_acts_in_its_own_account_only(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    other = await stack.client("Other")
    # The other account has contacts with the very same addresses.
    await import_contacts(other, [{"email": f"c{i:06d}@example.test"} for i in range(3)])
    campaign_id = await campaign_for(client, smtp_sink, 3)
    await act(client, "startCampaign", campaign_id)
    await wait_until(client, campaign_id, *FINAL_STATUSES)
    links = links_of(smtp_sink)
    ann = "c000001@example.test"
    others_before = await consent(other)
    assert others_before == dict.fromkeys(others_before, True)

    # A link re-aimed at the other account's contact (its id in place of ours) is forged.
    theirs = pk_of(await contact_id(other, ann), "Contact")
    ours, delivery, mac = links[ann].rsplit("/", 1)[1].split(".")
    assert int(ours) == pk_of(await contact_id(client, ann), "Contact")
    prefix = links[ann].rsplit("/", 1)[0]
    async with httpx.AsyncClient() as http:
        for method in ("GET", "POST"):
            forged = await http.request(method, f"{prefix}/{theirs}.{delivery}.{mac}")
            assert forged.status_code == 404
        assert (await http.post(links[ann])).status_code == 200
    assert await consent(client) == {**dict.fromkeys(links, True), ann: False}
    assert await consent(other) == others_before


async def test_a_deleted_contacts_link_never_reaches_a_new_contact(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    """On SQLite a plain rowid table hands the largest id out again once it is deleted: the
    new contact (and its delivery) would get the old one's id, and the old link with it."""
    client = await stack.client()
    code = await channel_for(client, smtp_sink)
    await import_contacts(client, [{"email": "old@example.test", "tags": ["one"]}])
    first = await email_campaign(client, code, contactTags=["one"])
    await act(client, "startCampaign", first)
    await wait_until(client, first, *FINAL_STATUSES)
    old_link = links_of(smtp_sink)["old@example.test"]
    old_id = await contact_id(client, "old@example.test")
    gone = await client.mutate("deleteContact", {"id": old_id}, "deletedId")
    assert gone["userErrors"] == []

    await import_contacts(client, [{"email": "new@example.test", "tags": ["two"]}])
    new_id = await contact_id(client, "new@example.test")
    assert pk_of(new_id, "Contact") > pk_of(old_id, "Contact")
    second = await email_campaign(client, code, campaignName="Second", contactTags=["two"])
    await act(client, "startCampaign", second)
    await wait_until(client, second, *FINAL_STATUSES)
    assert links_of(smtp_sink)["new@example.test"] != old_link

    async with httpx.AsyncClient() as http:
        for method in ("GET", "POST"):
            response = await http.request(method, old_link)
            assert response.status_code == 404
            assert "new@example.test" not in response.text
    assert await consent(client) == {"new@example.test": True}


ODD_TOKENS = [
    "²",  # a digit to str.isdigit, not to int()
    "١٢.٣.AAAAAAAAAAAAAAAAAAAAAA",  # Arabic-Indic digits
    "1.1." + "é" * 22,
    "\uff11\uff12.\uff13.AAAAAAAAAAAAAAAAAAAAAA",  # fullwidth digits
    "%00%ff%fe",
    "%2e%2e%2f%2e%2e%2fetc",
    "1%0d%0aSet-Cookie:%20x=1",
    "1" * 10_240,
    "1." + "2" * 10_240 + ".AAAAAAAAAAAAAAAAAAAAAA",
    "",
    ".",
    "..",
    "1.1.AAAAAAAAAAAAAAAAAAAAAA",  # the right shape, a forged signature
    "01.1.AAAAAAAAAAAAAAAAAAAAAA",
    "9223372036854775808.1.AAAAAAAAAAAAAAAAAAAAAA",  # past the largest id
    "99999999999999999999.1.AAAAAAAAAAAAAAAAAAAAAA",
    "1.AAAAAAAAAAAAAAAAAAAAAA",  # the old format (a delivery id), forged
    "test.",
]


@pytest.mark.parametrize("token", ODD_TOKENS)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_odd_tokens_get_a_404_page(client: GraphQLClient, method: str, token: str) -> None:
    before = await client.snapshot()
    response = await client.http.request(method, f"/unsubscribe/{token}")
    assert response.status_code == 404
    assert await client.snapshot() == before


async def test_links_sent_before_the_upgrade_still_work(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    """Links made before 0004_inputs name a delivery: they keep working for deliveries sent
    before the migration (never for a row sent later, which may reuse an old id)."""
    client = await stack.client()
    campaign_id = await campaign_for(client, smtp_sink, 2)
    await act(client, "startCampaign", campaign_id)
    await wait_until(client, campaign_id, *FINAL_STATUSES)
    ann = "c000001@example.test"
    prefix = links_of(smtp_sink)[ann].rsplit("/", 1)[0]

    async def cutoff(when: datetime) -> None:
        async with stack.server.db.write() as session:
            await session.execute(
                update(models.ServerSecret)
                .where(models.ServerSecret.name == LEGACY_CUTOFF)
                .values(value=when.isoformat())
            )

    async with stack.server.db.write() as session:
        key = await signing_key(session)
        delivery = await session.scalar(
            select(models.Delivery.id).where(models.Delivery.address == ann)
        )
    assert delivery is not None
    legacy = f"{prefix}/{make_legacy_token(key, delivery)}"
    async with httpx.AsyncClient() as http:
        await cutoff(datetime(2000, 1, 1, tzinfo=UTC))  # sent after the upgrade
        for method in ("GET", "POST"):
            assert (await http.request(method, legacy)).status_code == 404
        assert await consent(client) == {ann: True, "c000000@example.test": True}
        await cutoff(datetime.now(UTC))  # sent before the upgrade
        page = await http.get(legacy)
        assert page.status_code == 200
        assert ann in page.text
        assert (await http.post(legacy)).status_code == 200
    assert await consent(client) == {ann: False, "c000000@example.test": True}
