"""Every input is hostile: each mutation refuses header-injecting, control-laden, over-long
or over-many values with a typed user error and changes nothing; each filter refuses
over-long text and over-long lists with a typed error."""

from dataclasses import dataclass
from typing import Any

import pytest

from db import models
from graph.query import MAX_STATUSES
from tests.support import GraphQLClient, import_contacts, make_channel, make_email_campaign

# Addresses that would end or add a header line, or are not one plain address. (NUL is
# refused before any resolver runs, for every argument: tests/test_storable_text.py.)
BAD_ADDRESSES = [
    ("news@acme.test\n", "INVALID"),
    ("news@acme.test\r\nBcc: eve@evil.test", "INVALID"),
    ("news@acme.test\u2028", "INVALID"),
    ("news@acme.test\x1b", "INVALID"),
    ("Acme <news@acme.test>", "INVALID"),
    ("news@acme.test, eve@evil.test", "INVALID"),
    ("a" * 250 + "@acme.test", "TOO_LONG"),
]
# Display names and other one-line text (inside the value: some fields trim their ends).
BAD_NAMES = [
    ("Ac\nme", "INVALID"),
    ("Acme\r\nBcc: eve@evil.test", "INVALID"),
    ("Ac\u2028me", "INVALID"),
    ("Ac\u2029me", "INVALID"),
    ("Ac\x1bme", "INVALID"),
    ("Ac\x85me", "INVALID"),
    ("Ac\x7fme", "INVALID"),
    ("x" * 256, "TOO_LONG"),
]


@dataclass
class Ids:
    campaign: str
    channel: str
    contact: str
    audience: str
    template: str


@pytest.fixture
async def ids(client: GraphQLClient) -> Ids:
    await make_channel(client)
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    campaign = await make_email_campaign(client)
    data = await client.gql(
        "query($id: ID!) { contacts { edges { node { id } } } "
        "campaign(id: $id) { emailChannel { id } emailTemplate { id } audience { id } } }",
        {"id": campaign["id"]},
    )
    found = data["campaign"]
    return Ids(
        campaign=campaign["id"],
        channel=found["emailChannel"]["id"],
        contact=data["contacts"]["edges"][0]["node"]["id"],
        audience=found["audience"]["id"],
        template=found["emailTemplate"]["id"],
    )


def base_input(mutation: str, ids: Ids) -> dict[str, Any]:
    """A valid input for `mutation` that hostile fields are put into."""
    inputs: dict[str, dict[str, Any]] = {
        "updateAccount": {},
        "createEmailChannel": {"code": "other", "channelType": "MARKETING", "smtpHost": "h"},
        "updateEmailChannel": {"id": ids.channel},
        "createCampaign": {
            "name": "C",
            "audience": ids.audience,
            "emailChannel": ids.channel,
            "emailTemplate": ids.template,
        },
        "updateCampaign": {"id": ids.campaign},
        "createEmailCampaign": {
            "campaignName": "C",
            "emailChannel": "main",
            "contactTags": ["vip"],
            "subject": "S",
            "bodyHtml": "<p>B</p>",
        },
        "sendTestEmail": {"campaignId": ids.campaign},
        "createContact": {"email": "new@example.test"},
        "updateContact": {"id": ids.contact},
        "createAudience": {"name": "A", "tags": ["vip"]},
        "updateAudience": {"id": ids.audience},
        "createEmailTemplate": {"name": "T", "code": "t", "subject": "S", "bodyHtml": "B"},
        "updateEmailTemplate": {"id": ids.template},
    }
    return inputs[mutation]


SENDER_FIELDS = {
    "updateAccount": ["defaultFromEmail", "defaultReplyToEmail"],
    "createEmailChannel": ["defaultFromEmail", "defaultReplyToEmail"],
    "updateEmailChannel": ["defaultFromEmail", "defaultReplyToEmail"],
    "createCampaign": ["fromEmail", "replyToEmail"],
    "updateCampaign": ["fromEmail", "replyToEmail"],
    "createEmailCampaign": ["fromEmail", "replyToEmail"],
    "sendTestEmail": ["email"],
}
NAME_FIELDS = {
    "updateAccount": ["name", "defaultFromName", "defaultReplyToName"],
    "createEmailChannel": ["defaultFromName", "defaultReplyToName", "smtpHost", "smtpUsername"],
    "updateEmailChannel": ["defaultFromName", "defaultReplyToName", "smtpPassword"],
    "createCampaign": ["name", "fromName", "replyToName"],
    "updateCampaign": ["name", "fromName", "replyToName"],
    "createEmailCampaign": [
        "campaignName",
        "fromName",
        "replyToName",
        "audienceName",
        "templateName",
    ],
    "createAudience": ["name"],
    "updateAudience": ["name"],
    "createEmailTemplate": ["name"],
    "updateEmailTemplate": ["name"],
}
CASES = [
    *((mutation, field) for mutation, fields in SENDER_FIELDS.items() for field in fields),
    *((mutation, field) for mutation, fields in NAME_FIELDS.items() for field in fields),
]


async def assert_refused(
    client: GraphQLClient,
    mutation: str,
    input: dict[str, Any],
    expected: list[tuple[list[str], str]],
) -> None:
    before = await client.snapshot()
    payload = await client.mutate(mutation, input, "__typename")
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == expected, input
    assert all(e["message"] for e in payload["userErrors"])
    assert await client.snapshot() == before


@pytest.mark.parametrize(("mutation", "field"), CASES)
async def test_header_fields_refuse_hostile_values(
    client: GraphQLClient, ids: Ids, mutation: str, field: str
) -> None:
    hostile = BAD_ADDRESSES if field in SENDER_FIELDS.get(mutation, ()) else BAD_NAMES
    for value, code in hostile:
        input = {**base_input(mutation, ids), field: value}
        await assert_refused(client, mutation, input, [([field], code)])


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("email", "ann@example.test\nbcc: eve@evil.test", "INVALID"),
        ("email", "ann@exam\u2028ple.test", "INVALID"),
        ("firstName", "Ann\r\nBcc: eve@evil.test", "INVALID"),
        ("lastName", "Lee\u2028", "INVALID"),
        ("firstName", "x" * 101, "TOO_LONG"),
    ],
)
async def test_contacts_refuse_hostile_values(
    client: GraphQLClient, ids: Ids, field: str, value: str, code: str
) -> None:
    for mutation in ("createContact", "updateContact"):
        input = {**base_input(mutation, ids), field: value}
        await assert_refused(client, mutation, input, [([field], code)])
    row = {"email": "row@example.test", field: value}
    await assert_refused(
        client, "importContacts", {"contacts": [row]}, [(["contacts", "0", field], code)]
    )


def tags(n: int) -> list[str]:
    return [f"t{i}" for i in range(n)]


LIMIT_CASES = [
    ("createAudience", "description", "d" * 5_001, "TOO_LONG"),
    ("createAudience", "description", "line\x1b", "INVALID"),
    ("createAudience", "code", "c" * 101, "TOO_LONG"),
    ("createAudience", "tags", tags(51), "TOO_MANY"),
    ("createAudience", "tags", ["t" * 101], "TOO_LONG"),
    ("updateAudience", "description", "d" * 5_001, "TOO_LONG"),
    ("updateAudience", "tags", tags(51), "TOO_MANY"),
    ("createCampaign", "description", "d" * 5_001, "TOO_LONG"),
    ("createCampaign", "utmCode", "u\n", "INVALID"),
    ("createCampaign", "audience", "a" * 101, "TOO_LONG"),
    ("createCampaign", "emailTemplate", "t" * 101, "TOO_LONG"),
    ("updateCampaign", "description", "d" * 5_001, "TOO_LONG"),
    ("updateCampaign", "emailChannel", "c" * 101, "TOO_LONG"),
    ("createEmailCampaign", "description", "d" * 5_001, "TOO_LONG"),
    ("createEmailCampaign", "contactTags", tags(51), "TOO_MANY"),
    ("createEmailCampaign", "emailChannel", "c" * 51, "TOO_LONG"),
    ("createEmailCampaign", "utmCode", "u" * 101, "TOO_LONG"),
    ("createEmailChannel", "code", "c" * 51, "TOO_LONG"),
    ("createEmailChannel", "smtpHost", "h" * 256, "TOO_LONG"),
    ("updateEmailChannel", "smtpUsername", "u" * 256, "TOO_LONG"),
    ("createEmailTemplate", "code", "c" * 101, "TOO_LONG"),
    ("createEmailTemplate", "code", "c\n", "INVALID"),
    ("createEmailTemplate", "tags", tags(51), "TOO_MANY"),
    ("updateEmailTemplate", "tags", ["t\u2028"], "INVALID"),
    ("createContact", "tags", tags(51), "TOO_MANY"),
    ("updateContact", "tags", ["t" * 101], "TOO_LONG"),
]


@pytest.mark.parametrize(("mutation", "field", "value", "code"), LIMIT_CASES)
async def test_strings_and_lists_are_capped(
    client: GraphQLClient, ids: Ids, mutation: str, field: str, value: Any, code: str
) -> None:
    input = {**base_input(mutation, ids), field: value}
    await assert_refused(client, mutation, input, [([field], code)])


async def test_an_import_is_capped(client: GraphQLClient) -> None:
    rows = [{"email": f"u{i}@example.test"} for i in range(10_001)]
    await assert_refused(client, "importContacts", {"contacts": rows}, [(["contacts"], "TOO_MANY")])


FILTER_CASES = [
    ("campaigns(filter: {q: $v})", "String!", "q" * 256, "q" * 255, "TOO_LONG"),
    ("campaigns(filter: {audience: $v})", "ID!", "a" * 101, "a" * 100, "TOO_LONG"),
    (
        "campaigns(filter: {status: $v})",
        "[CampaignStatus!]!",
        ["DRAFT"] * (MAX_STATUSES + 1),
        ["DRAFT"] * MAX_STATUSES,
        "TOO_MANY",
    ),
    ("contacts(filter: {q: $v})", "String!", "q" * 256, "q" * 255, "TOO_LONG"),
    ("contacts(filter: {tags: $v})", "[String!]!", tags(51), tags(50), "TOO_MANY"),
    ("contacts(filter: {tags: $v})", "[String!]!", ["t" * 101], ["t" * 100], "TOO_LONG"),
    ("audiences(q: $v)", "String!", "q" * 256, "q" * 255, "TOO_LONG"),
    ("emailTemplates(q: $v)", "String!", "q" * 256, "q" * 255, "TOO_LONG"),
    # PostgreSQL refuses NUL in text: refused before it gets there ("Unexpected error." else)
    ("contacts(filter: {q: $v})", "String!", "ann\x1b", "ann", "INVALID"),
    ("contacts(filter: {tags: $v})", "[String!]!", ["v\x1bip"], ["vip"], "INVALID"),
    ("campaigns(filter: {audience: $v})", "ID!", "vip\x1b", "vip", "INVALID"),
    ("audiences(q: $v)", "String!", "a\x1b", "a", "INVALID"),
]


@pytest.mark.parametrize(("field", "kind", "over", "at_cap", "code"), FILTER_CASES)
async def test_filters_are_capped(
    client: GraphQLClient, field: str, kind: str, over: Any, at_cap: Any, code: str
) -> None:
    query = f"query($v: {kind}) {{ {field} {{ totalCount }} }}"
    response = await client.raw(query, {"v": over})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code
    assert error["message"]
    # At the cap, the same filter is served.
    served = (await client.raw(query, {"v": at_cap})).json()
    assert "errors" not in served, served


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        ("default_from_email", "news@acme.test\n", "fromEmail"),
        ("default_reply_to_email", "help@acme.test\r\nBcc: eve@evil.test", "replyToEmail"),
        ("default_from_name", "Acme\r\nBcc: eve@evil.test", "fromName"),
    ],
)
async def test_a_hostile_value_stored_before_is_refused_at_start(
    client: GraphQLClient, ids: Ids, column: str, value: str, field: str
) -> None:
    """Data saved before the checks were whole-string: the campaign is refused where the user
    sees it (start, test send), never sent with broken headers."""
    async with client.server.db.write() as session:
        account = await session.get_one(models.Account, client.account_id)
        setattr(account, column, value)
    await assert_refused(client, "startCampaign", {"id": ids.campaign}, [([field], "INVALID")])
    await assert_refused(
        client,
        "sendTestEmail",
        {"campaignId": ids.campaign, "email": "ann@example.test"},
        [([field], "INVALID")],
    )
