"""Campaign CRUD and reads through the HTTP API: createCampaign, createEmailCampaign,
updateCampaign, deleteCampaign, and the `campaign`, `node` and `campaigns` queries."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph.ids import encode_id
from tests.support import (
    GraphQLClient,
    NewClient,
    import_contacts,
    make_channel,
    make_email_campaign,
    pk_of,
)

CAMPAIGN = """
    id name description channelType status scheduledAt executionDurationMinutes
    fromEmail fromName replyToEmail replyToName utmCode ltv ltvCurrency
    audience { id code } emailChannel { id code } emailTemplate { id code }
    execution { status }
"""
FULL_EMAIL_CAMPAIGN = """
    id name description status utmCode fromEmail fromName replyToEmail replyToName
    scheduledAt executionDurationMinutes
    audience { name code tags description }
    emailTemplate { name code subject bodyHtml bodyText tags isBase }
    emailChannel { code }
"""


@dataclass
class Refs:
    audience: dict[str, Any]
    channel: dict[str, Any]
    template: dict[str, Any]


def future(days: int = 1) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)


def refused(payload: dict[str, Any], key: str) -> list[tuple[str, list[str] | None]]:
    """The (code, field) of each userError of a refused mutation; every message is set."""
    assert payload[key] is None, payload
    assert all(isinstance(e["message"], str) and e["message"] for e in payload["userErrors"])
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def make_audience(
    client: GraphQLClient, name: str = "VIPs", tags: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    payload = await client.mutate(
        "createAudience", {"name": name, "tags": tags or ["vip"], **extra}, "audience { id code }"
    )
    assert payload["userErrors"] == []
    audience: dict[str, Any] = payload["audience"]
    return audience


async def make_template(client: GraphQLClient, code: str = "welcome") -> dict[str, Any]:
    payload = await client.mutate(
        "createEmailTemplate",
        {"name": code.title(), "code": code, "subject": "Hi", "bodyHtml": "<p>Hi</p>"},
        "emailTemplate { id code }",
    )
    assert payload["userErrors"] == []
    template: dict[str, Any] = payload["emailTemplate"]
    return template


async def make_refs(client: GraphQLClient, **channel: Any) -> Refs:
    return Refs(
        audience=await make_audience(client),
        channel=await make_channel(client, **channel),
        template=await make_template(client),
    )


def by_ids(refs: Refs) -> dict[str, Any]:
    return {
        "audience": refs.audience["id"],
        "emailChannel": refs.channel["id"],
        "emailTemplate": refs.template["id"],
    }


def by_codes(refs: Refs) -> dict[str, Any]:
    return {
        "audience": refs.audience["code"],
        "emailChannel": refs.channel["code"],
        "emailTemplate": refs.template["code"],
    }


def expected_campaign(campaign_id: str, refs: Refs, **overrides: Any) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "name": "Launch",
        "description": "",
        "channelType": "EMAIL",
        "status": "DRAFT",
        "scheduledAt": None,
        "executionDurationMinutes": None,
        "fromEmail": "",
        "fromName": "",
        "replyToEmail": "",
        "replyToName": "",
        "utmCode": "",
        "ltv": "0.00",
        "ltvCurrency": "USD",
        "audience": refs.audience,
        "emailChannel": refs.channel,
        "emailTemplate": refs.template,
        "execution": None,
        **overrides,
    }


async def create(client: GraphQLClient, input: dict[str, Any]) -> dict[str, Any]:
    return await client.mutate("createCampaign", input, f"campaign {{ {CAMPAIGN} }}")


async def create_ok(client: GraphQLClient, refs: Refs, **fields: Any) -> dict[str, Any]:
    payload = await create(client, {"name": "Launch", **by_ids(refs), **fields})
    assert payload["userErrors"] == [], payload
    campaign: dict[str, Any] = payload["campaign"]
    return campaign


async def start_running(client: GraphQLClient, campaign_id: str) -> None:
    payload = await client.mutate("startCampaign", {"id": campaign_id}, "campaign { status }")
    assert payload == {"campaign": {"status": "RUNNING"}, "userErrors": []}


# --- createCampaign ------------------------------------------------------------------------


@pytest.mark.parametrize("refs_of", [by_ids, by_codes], ids=["global-ids", "codes"])
async def test_create_campaign_with_references(
    client: GraphQLClient, refs_of: Callable[[Refs], dict[str, Any]]
) -> None:
    refs = await make_refs(client)
    when = future()
    payload = await create(
        client,
        {
            "name": "Launch",
            **refs_of(refs),
            "description": "The big one",
            "scheduledAt": when.isoformat(),
            "executionDurationMinutes": 30,
            "fromEmail": "sales@acme.test",
            "fromName": "Acme Sales",
            "replyToEmail": "reply@acme.test",
            "replyToName": "Acme Help",
            "utmCode": "launch-2026",
        },
    )
    assert payload["userErrors"] == []
    campaign = payload["campaign"]
    pk_of(campaign["id"], "Campaign")
    assert campaign == expected_campaign(
        campaign["id"],
        refs,
        description="The big one",
        scheduledAt=when.isoformat(),
        executionDurationMinutes=30,
        fromEmail="sales@acme.test",
        fromName="Acme Sales",
        replyToEmail="reply@acme.test",
        replyToName="Acme Help",
        utmCode="launch-2026",
    )


async def test_create_campaign_defaults(client: GraphQLClient) -> None:
    refs = await make_refs(client)
    campaign = await create_ok(client, refs)
    assert campaign == expected_campaign(campaign["id"], refs)


@pytest.mark.parametrize("field", ["audience", "emailChannel", "emailTemplate"])
@pytest.mark.parametrize(
    "value",
    ["", "no-such-code", "wrong-type", "unknown-id"],
)
async def test_create_campaign_unknown_reference_is_not_found(
    client: GraphQLClient, field: str, value: str
) -> None:
    refs = await make_refs(client)
    type_name = {"audience": "Audience", "emailChannel": "EmailChannel"}.get(field, "EmailTemplate")
    if value == "wrong-type":  # a global ID of another type (the campaign's other reference)
        other = "emailTemplate" if field != "emailTemplate" else "audience"
        value = by_ids(refs)[other]
    elif value == "unknown-id":
        value = encode_id(type_name, 999_999_999)
    before = await client.snapshot()
    payload = await create(client, {"name": "Launch", **by_ids(refs), field: value})
    assert refused(payload, "campaign") == [("NOT_FOUND", [field])]
    assert await client.snapshot() == before


@pytest.mark.parametrize("as_code", [False, True], ids=["global-id", "code"])
async def test_create_campaign_with_another_accounts_audience_is_not_found(
    client: GraphQLClient, new_client: NewClient, as_code: bool
) -> None:
    refs = await make_refs(client)
    other = await new_client("Other")
    theirs = await make_audience(other, "Their VIPs", code="their-vips")
    before = await client.snapshot()
    other_before = await other.snapshot()
    payload = await create(
        client,
        {"name": "Launch", **by_ids(refs), "audience": theirs["code" if as_code else "id"]},
    )
    assert refused(payload, "campaign") == [("NOT_FOUND", ["audience"])]
    assert await client.snapshot() == before
    assert await other.snapshot() == other_before


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"name": "x" * 256}, "TOO_LONG", ["name"]),
        ({"name": "   "}, "REQUIRED", ["name"]),
        ({"executionDurationMinutes": 0}, "OUT_OF_RANGE", ["executionDurationMinutes"]),
        ({"executionDurationMinutes": 1441}, "OUT_OF_RANGE", ["executionDurationMinutes"]),
        ({"executionDurationMinutes": -5}, "OUT_OF_RANGE", ["executionDurationMinutes"]),
        ({"fromEmail": "not-an-email"}, "INVALID", ["fromEmail"]),
        ({"fromEmail": "a b@acme.test"}, "INVALID", ["fromEmail"]),
        ({"replyToEmail": "reply@"}, "INVALID", ["replyToEmail"]),
        ({"replyToEmail": "reply@localhost"}, "INVALID", ["replyToEmail"]),
        ({"fromName": "n" * 256}, "TOO_LONG", ["fromName"]),
        ({"replyToName": "n" * 256}, "TOO_LONG", ["replyToName"]),
        ({"utmCode": "u" * 101}, "TOO_LONG", ["utmCode"]),
        (
            {"scheduledAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()},
            "INVALID",
            ["scheduledAt"],
        ),
    ],
)
async def test_create_campaign_invalid_field(
    client: GraphQLClient, fields: dict[str, Any], code: str, field: list[str]
) -> None:
    refs = await make_refs(client)
    before = await client.snapshot()
    payload = await create(client, {"name": "Launch", **by_ids(refs), **fields})
    assert refused(payload, "campaign") == [(code, field)]
    assert await client.snapshot() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"executionDurationMinutes": 1},
        {"executionDurationMinutes": 1440},
        {"name": "x" * 255},
        {"fromName": "n" * 255, "utmCode": "u" * 100},
    ],
)
async def test_create_campaign_limits_are_inclusive(
    client: GraphQLClient, fields: dict[str, Any]
) -> None:
    refs = await make_refs(client)
    campaign = await create_ok(client, refs, **fields)
    assert {k: campaign[k] for k in fields} == fields


async def test_create_campaign_lists_every_problem_at_once(client: GraphQLClient) -> None:
    refs = await make_refs(client)
    before = await client.snapshot()
    payload = await create(
        client,
        {
            "name": "x" * 256,
            **by_ids(refs),
            "executionDurationMinutes": 0,
            "fromEmail": "nope",
            "replyToEmail": "nope",
            "utmCode": "u" * 101,
        },
    )
    assert sorted(refused(payload, "campaign")) == sorted(
        [
            ("TOO_LONG", ["name"]),
            ("OUT_OF_RANGE", ["executionDurationMinutes"]),
            ("INVALID", ["fromEmail"]),
            ("INVALID", ["replyToEmail"]),
            ("TOO_LONG", ["utmCode"]),
        ]
    )
    assert await client.snapshot() == before


@pytest.mark.parametrize(
    ("campaign_fields", "missing"),
    [
        ({}, [["fromEmail"], ["replyToEmail"]]),
        ({"fromEmail": "me@acme.test"}, [["replyToEmail"]]),
        ({"replyToEmail": "me@acme.test"}, [["fromEmail"]]),
    ],
)
async def test_create_campaign_without_any_sender_is_refused(
    new_client: NewClient, campaign_fields: dict[str, Any], missing: list[list[str]]
) -> None:
    client = await new_client("Bare", with_defaults=False)
    refs = await make_refs(client)
    before = await client.snapshot()
    payload = await create(client, {"name": "Launch", **by_ids(refs), **campaign_fields})
    assert refused(payload, "campaign") == [("MISSING_SENDER", field) for field in missing]
    assert await client.snapshot() == before


async def test_create_campaign_falls_back_to_the_channels_sender(new_client: NewClient) -> None:
    client = await new_client("Bare", with_defaults=False)
    refs = await make_refs(
        client, defaultFromEmail="chan@acme.test", defaultReplyToEmail="chan-reply@acme.test"
    )
    campaign = await create_ok(client, refs)
    assert campaign == expected_campaign(campaign["id"], refs)
    # The fallback also satisfies the start-time sender check.
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    await start_running(client, campaign["id"])


async def test_create_campaign_with_its_own_sender_needs_no_defaults(
    new_client: NewClient,
) -> None:
    client = await new_client("Bare", with_defaults=False)
    refs = await make_refs(client)
    campaign = await create_ok(
        client, refs, fromEmail="me@acme.test", replyToEmail="reply@acme.test"
    )
    assert (campaign["fromEmail"], campaign["replyToEmail"]) == ("me@acme.test", "reply@acme.test")


async def test_create_campaign_without_a_reference_is_a_graphql_error(
    client: GraphQLClient,
) -> None:
    refs = await make_refs(client)
    before = await client.snapshot()
    input = {"name": "Launch", **by_ids(refs)}
    del input["audience"]
    response = await client.raw(
        "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) "
        "{ campaign { id } } }",
        {"input": input},
    )
    body = response.json()
    assert body.get("data") is None
    assert len(body["errors"]) == 1
    assert "audience" in body["errors"][0]["message"]
    assert await client.snapshot() == before


@pytest.mark.parametrize("mutation", ["createCampaign", "updateCampaign", "scheduleCampaign"])
async def test_scheduled_at_without_utc_offset_is_invalid(
    client: GraphQLClient, mutation: str
) -> None:
    """A DateTime without an offset is ambiguous: refused, never an internal error."""
    refs = await make_refs(client)
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    campaign = await create_ok(client, refs)
    naive = future().replace(tzinfo=None).isoformat()
    input: dict[str, Any] = {"id": campaign["id"], "scheduledAt": naive}
    if mutation == "createCampaign":
        input = {"name": "Launch", **by_ids(refs), "scheduledAt": naive}
    before = await client.snapshot()
    payload = await client.mutate(mutation, input, "campaign { id }")
    assert refused(payload, "campaign") == [("INVALID", ["scheduledAt"])]
    assert await client.snapshot() == before


@pytest.mark.parametrize("mutation", ["createCampaign", "updateCampaign", "scheduleCampaign"])
@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:00:00-01:00"])
async def test_scheduled_at_beyond_the_last_utc_instant_is_out_of_range(
    client: GraphQLClient, mutation: str, when: str
) -> None:
    """A valid ISO datetime that has no UTC equivalent (found by the fuzz; was "Unexpected
    error.")."""
    refs = await make_refs(client)
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    campaign = await create_ok(client, refs)
    input: dict[str, Any] = {"id": campaign["id"], "scheduledAt": when}
    if mutation == "createCampaign":
        input = {"name": "Launch", **by_ids(refs), "scheduledAt": when}
    before = await client.snapshot()
    payload = await client.mutate(mutation, input, "campaign { id }")
    assert refused(payload, "campaign") == [("OUT_OF_RANGE", ["scheduledAt"])]
    assert await client.snapshot() == before


# --- createEmailCampaign -------------------------------------------------------------------


async def create_email(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    input = {
        "campaignName": "Spring sale",
        "emailChannel": "main",
        "contactTags": ["vip", "new"],
        "subject": "Hello {{ first_name }}",
        "bodyHtml": "<p>Hi {{ first_name }}</p>",
        **fields,
    }
    return await client.mutate(
        "createEmailCampaign", input, f"campaign {{ {FULL_EMAIL_CAMPAIGN} }}"
    )


async def test_create_email_campaign_creates_audience_template_and_campaign(
    client: GraphQLClient,
) -> None:
    await make_channel(client)
    when = future()
    payload = await create_email(
        client,
        contactTags=["vip", " new ", "vip"],
        bodyText="Hi {{ first_name }}",
        description="Spring promo",
        utmCode="spring",
        fromEmail="sales@acme.test",
        fromName="Sales",
        replyToEmail="reply@acme.test",
        replyToName="Help",
        scheduledAt=when.isoformat(),
        executionDurationMinutes=60,
    )
    assert payload["userErrors"] == []
    campaign = payload["campaign"]
    assert campaign == {
        "id": campaign["id"],
        "name": "Spring sale",
        "description": "Spring promo",
        "status": "DRAFT",
        "utmCode": "spring",
        "fromEmail": "sales@acme.test",
        "fromName": "Sales",
        "replyToEmail": "reply@acme.test",
        "replyToName": "Help",
        "scheduledAt": when.isoformat(),
        "executionDurationMinutes": 60,
        "audience": {
            "name": "Spring sale",
            "code": "spring-sale",
            "tags": ["vip", "new"],
            "description": "",
        },
        "emailTemplate": {
            "name": "Spring sale",
            "code": "spring-sale",
            "subject": "Hello {{ first_name }}",
            "bodyHtml": "<p>Hi {{ first_name }}</p>",
            "bodyText": "Hi {{ first_name }}",
            "tags": [],
            "isBase": False,
        },
        "emailChannel": {"code": "main"},
    }
    snapshot = await client.snapshot()
    assert (len(snapshot["audiences"]), len(snapshot["email_templates"])) == (1, 1)
    assert len(snapshot["campaigns"]) == 1


async def test_create_email_campaign_with_explicit_audience_and_template_names(
    client: GraphQLClient,
) -> None:
    await make_channel(client)
    payload = await create_email(client, audienceName="Spring VIPs", templateName="Spring mail v1")
    assert payload["userErrors"] == []
    campaign = payload["campaign"]
    assert campaign["name"] == "Spring sale"
    assert {k: campaign["audience"][k] for k in ("name", "code")} == {
        "name": "Spring VIPs",
        "code": "spring-vips",
    }
    assert {k: campaign["emailTemplate"][k] for k in ("name", "code")} == {
        "name": "Spring mail v1",
        "code": "spring-mail-v1",
    }


async def test_create_email_campaign_channel_code_is_case_insensitive(
    client: GraphQLClient,
) -> None:
    await make_channel(client, code="Main")
    payload = await create_email(client, emailChannel="MAIN")
    assert payload["userErrors"] == []
    assert payload["campaign"]["emailChannel"] == {"code": "main"}


async def test_create_email_campaign_generated_codes_are_slugs(client: GraphQLClient) -> None:
    await make_channel(client)
    slug = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    name = "a" * 89 + " b"  # its slug has a hyphen at position 90
    codes = []
    for _ in range(2):
        payload = await create_email(client, campaignName=name)
        assert payload["userErrors"] == []
        codes.append(payload["campaign"]["audience"]["code"])
    assert len(set(codes)) == 2
    assert [bool(slug.match(code)) and len(code) <= 100 for code in codes] == [True, True]


@pytest.mark.parametrize("field", ["audienceName", "templateName"])
async def test_create_email_campaign_blank_audience_or_template_name(
    client: GraphQLClient, field: str
) -> None:
    """A blank audienceName or templateName defaults to campaignName, like an empty one."""
    await make_channel(client)
    payload = await create_email(client, **{field: "   "})
    assert payload["userErrors"] == []
    campaign = payload["campaign"]
    assert (campaign["audience"]["name"], campaign["audience"]["code"]) == (
        "Spring sale",
        "spring-sale",
    )
    assert (campaign["emailTemplate"]["name"], campaign["emailTemplate"]["code"]) == (
        "Spring sale",
        "spring-sale",
    )


async def test_create_email_campaign_twice_gives_distinct_codes(client: GraphQLClient) -> None:
    await make_channel(client)
    codes = []
    for _ in range(3):
        payload = await create_email(client)
        assert payload["userErrors"] == []
        campaign = payload["campaign"]
        codes.append((campaign["audience"]["code"], campaign["emailTemplate"]["code"]))
    assert codes == [
        ("spring-sale", "spring-sale"),
        ("spring-sale-2", "spring-sale-2"),
        ("spring-sale-3", "spring-sale-3"),
    ]


async def test_create_email_campaign_unknown_channel_is_not_found(
    client: GraphQLClient, new_client: NewClient
) -> None:
    await make_channel(client)
    other = await new_client("Other")
    await make_channel(other, code="theirs")
    before = await client.snapshot()
    for code in ("nope", "theirs"):
        payload = await create_email(client, emailChannel=code)
        assert refused(payload, "campaign") == [("NOT_FOUND", ["emailChannel"])]
    assert await client.snapshot() == before


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"bodyHtml": "<p>{% if %}</p>"}, "TEMPLATE_SYNTAX", ["bodyHtml"]),
        ({"bodyHtml": "{{ first_name"}, "TEMPLATE_SYNTAX", ["bodyHtml"]),
        ({"subject": "Hi {{ }}"}, "TEMPLATE_SYNTAX", ["subject"]),
        ({"bodyText": "{% for x in %}"}, "TEMPLATE_SYNTAX", ["bodyText"]),
        ({"bodyHtml": ""}, "REQUIRED", ["bodyHtml"]),
        ({"subject": ""}, "REQUIRED", ["subject"]),
        ({"subject": "s" * 256}, "TOO_LONG", ["subject"]),
        ({"contactTags": []}, "REQUIRED", ["contactTags"]),
        ({"contactTags": ["vip", " "]}, "INVALID", ["contactTags"]),
        ({"campaignName": ""}, "REQUIRED", ["campaignName"]),
        ({"campaignName": "c" * 256}, "TOO_LONG", ["campaignName"]),
        ({"emailChannel": ""}, "REQUIRED", ["emailChannel"]),
        ({"emailChannel": "bad code!"}, "INVALID", ["emailChannel"]),
        ({"audienceName": "a" * 256}, "TOO_LONG", ["audienceName"]),
        ({"templateName": "t" * 256}, "TOO_LONG", ["templateName"]),
        ({"executionDurationMinutes": 0}, "OUT_OF_RANGE", ["executionDurationMinutes"]),
        ({"executionDurationMinutes": 1441}, "OUT_OF_RANGE", ["executionDurationMinutes"]),
        ({"fromEmail": "nope"}, "INVALID", ["fromEmail"]),
        ({"utmCode": "u" * 101}, "TOO_LONG", ["utmCode"]),
        (
            {"scheduledAt": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
            "INVALID",
            ["scheduledAt"],
        ),
    ],
)
async def test_create_email_campaign_invalid_field(
    client: GraphQLClient, fields: dict[str, Any], code: str, field: list[str]
) -> None:
    await make_channel(client)
    before = await client.snapshot()
    payload = await create_email(client, **fields)
    assert refused(payload, "campaign") == [(code, field)]
    assert await client.snapshot() == before


async def test_create_email_campaign_lists_every_problem_at_once(client: GraphQLClient) -> None:
    await make_channel(client)
    before = await client.snapshot()
    payload = await create_email(
        client,
        campaignName="",
        contactTags=[],
        subject="s" * 256,
        bodyHtml="{% if %}",
        executionDurationMinutes=0,
        replyToEmail="nope",
    )
    assert sorted(refused(payload, "campaign")) == sorted(
        [
            ("REQUIRED", ["campaignName"]),
            ("REQUIRED", ["contactTags"]),
            ("TOO_LONG", ["subject"]),
            ("TEMPLATE_SYNTAX", ["bodyHtml"]),
            ("OUT_OF_RANGE", ["executionDurationMinutes"]),
            ("INVALID", ["replyToEmail"]),
        ]
    )
    assert await client.snapshot() == before


async def test_create_email_campaign_without_any_sender_creates_nothing(
    new_client: NewClient,
) -> None:
    client = await new_client("Bare", with_defaults=False)
    await make_channel(client)
    before = await client.snapshot()
    payload = await create_email(client)
    assert refused(payload, "campaign") == [
        ("MISSING_SENDER", ["fromEmail"]),
        ("MISSING_SENDER", ["replyToEmail"]),
    ]
    assert await client.snapshot() == before


# --- updateCampaign ------------------------------------------------------------------------


async def update(client: GraphQLClient, input: dict[str, Any]) -> dict[str, Any]:
    return await client.mutate("updateCampaign", input, f"campaign {{ {CAMPAIGN} }}")


async def test_update_draft_campaign_changes_every_field(client: GraphQLClient) -> None:
    refs = await make_refs(client)
    campaign = await create_ok(client, refs)
    new = Refs(
        audience=await make_audience(client, "Newcomers", ["new"]),
        channel=await make_channel(client, code="second"),
        template=await make_template(client, "promo"),
    )
    when = future(3)
    changes = {
        "name": "Relaunch",
        "description": "Second try",
        "scheduledAt": when.isoformat(),
        "executionDurationMinutes": 1440,
        "fromEmail": "a@acme.test",
        "fromName": "A",
        "replyToEmail": "b@acme.test",
        "replyToName": "B",
        "utmCode": "relaunch",
    }
    payload = await update(
        client,
        {
            "id": campaign["id"],
            **changes,
            "audience": new.audience["code"],
            "emailChannel": new.channel["id"],
            "emailTemplate": new.template["code"],
        },
    )
    assert payload == {
        "campaign": expected_campaign(campaign["id"], new, **changes),
        "userErrors": [],
    }


async def test_update_is_partial_and_null_clears_schedule_and_duration(
    client: GraphQLClient,
) -> None:
    refs = await make_refs(client)
    when = future()
    campaign = await create_ok(
        client,
        refs,
        description="Keep me",
        scheduledAt=when.isoformat(),
        executionDurationMinutes=15,
        utmCode="keep",
    )
    payload = await update(client, {"id": campaign["id"], "name": "Renamed"})
    assert payload == {
        "campaign": {**campaign, "name": "Renamed"},
        "userErrors": [],
    }
    payload = await update(
        client, {"id": campaign["id"], "scheduledAt": None, "executionDurationMinutes": None}
    )
    assert payload == {
        "campaign": {
            **campaign,
            "name": "Renamed",
            "scheduledAt": None,
            "executionDurationMinutes": None,
        },
        "userErrors": [],
    }


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"name": "x" * 256}, "TOO_LONG", ["name"]),
        ({"name": ""}, "REQUIRED", ["name"]),
        ({"executionDurationMinutes": 0}, "OUT_OF_RANGE", ["executionDurationMinutes"]),
        ({"executionDurationMinutes": 1441}, "OUT_OF_RANGE", ["executionDurationMinutes"]),
        ({"fromEmail": "nope"}, "INVALID", ["fromEmail"]),
        ({"replyToEmail": "nope@"}, "INVALID", ["replyToEmail"]),
        ({"utmCode": "u" * 101}, "TOO_LONG", ["utmCode"]),
        (
            {"scheduledAt": (datetime.now(UTC) - timedelta(seconds=5)).isoformat()},
            "INVALID",
            ["scheduledAt"],
        ),
        ({"audience": "no-such-audience"}, "NOT_FOUND", ["audience"]),
        ({"emailChannel": "no-such-channel"}, "NOT_FOUND", ["emailChannel"]),
        (
            {"emailTemplate": encode_id("EmailTemplate", 999_999_999)},
            "NOT_FOUND",
            ["emailTemplate"],
        ),
    ],
)
async def test_update_draft_campaign_invalid_field(
    client: GraphQLClient, fields: dict[str, Any], code: str, field: list[str]
) -> None:
    refs = await make_refs(client)
    campaign = await create_ok(client, refs)
    before = await client.snapshot()
    payload = await update(client, {"id": campaign["id"], **fields})
    assert refused(payload, "campaign") == [(code, field)]
    assert await client.snapshot() == before


async def test_update_unknown_or_foreign_campaign_is_not_found(
    client: GraphQLClient, new_client: NewClient
) -> None:
    other = await new_client("Other")
    theirs = await create_ok(other, await make_refs(other))
    other_before = await other.snapshot()
    before = await client.snapshot()
    for campaign_id in (theirs["id"], encode_id("Campaign", 999_999_999), "garbage"):
        payload = await update(client, {"id": campaign_id, "name": "Mine now"})
        assert refused(payload, "campaign") == [("NOT_FOUND", ["id"])]
    assert await client.snapshot() == before
    assert await other.snapshot() == other_before


async def test_update_removing_the_only_sender_is_refused(new_client: NewClient) -> None:
    client = await new_client("Bare", with_defaults=False)
    refs = await make_refs(client)
    campaign = await create_ok(client, refs, fromEmail="me@acme.test", replyToEmail="r@acme.test")
    before = await client.snapshot()
    payload = await update(client, {"id": campaign["id"], "fromEmail": ""})
    assert refused(payload, "campaign") == [("MISSING_SENDER", ["fromEmail"])]
    assert await client.snapshot() == before


async def _started(client: GraphQLClient, status: str) -> tuple[Refs, dict[str, Any]]:
    """A campaign of `status` (running, paused or cancelled after a start)."""
    refs = await make_refs(client)
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    campaign = await create_ok(client, refs)
    await start_running(client, campaign["id"])
    action = {"PAUSED": "pauseCampaign", "CANCELLED": "cancelCampaign"}.get(status)
    if action:
        payload = await client.mutate(action, {"id": campaign["id"]}, "campaign { status }")
        assert payload == {"campaign": {"status": status}, "userErrors": []}
    return refs, campaign


@pytest.mark.parametrize("status", ["RUNNING", "PAUSED", "CANCELLED"])
async def test_after_start_only_name_and_description_change(
    client: GraphQLClient, status: str
) -> None:
    _, campaign = await _started(client, status)
    payload = await client.mutate(
        "updateCampaign",
        {"id": campaign["id"], "name": "Renamed", "description": "Now described"},
        "campaign { id name description status }",
    )
    assert payload == {
        "campaign": {
            "id": campaign["id"],
            "name": "Renamed",
            "description": "Now described",
            "status": status,
        },
        "userErrors": [],
    }


LOCKED_FIELDS: list[tuple[str, Any]] = [
    ("audience", "vips"),
    ("emailChannel", "main"),
    ("emailTemplate", "welcome"),
    ("scheduledAt", None),
    ("executionDurationMinutes", 10),
    ("executionDurationMinutes", None),
    ("fromEmail", "x@acme.test"),
    ("fromName", "X"),
    ("replyToEmail", "y@acme.test"),
    ("replyToName", "Y"),
    ("utmCode", "u"),
]


@pytest.mark.parametrize("status", ["RUNNING", "PAUSED", "CANCELLED"])
@pytest.mark.parametrize(("field", "value"), LOCKED_FIELDS)
async def test_after_start_other_fields_are_not_editable(
    client: GraphQLClient, status: str, field: str, value: Any
) -> None:
    _, campaign = await _started(client, status)
    if field == "scheduledAt" and value is None:
        value = future().isoformat()
    before = await client.snapshot()
    payload = await update(client, {"id": campaign["id"], field: value})
    assert refused(payload, "campaign") == [("NOT_EDITABLE", [field])]
    assert await client.snapshot() == before


async def test_not_editable_is_reported_per_field_and_refuses_the_name_too(
    client: GraphQLClient,
) -> None:
    _, campaign = await _started(client, "RUNNING")
    before = await client.snapshot()
    payload = await update(
        client,
        {
            "id": campaign["id"],
            "name": "Renamed",
            "utmCode": "u",
            "fromEmail": "x@acme.test",
            "audience": "vips",
        },
    )
    assert refused(payload, "campaign") == [
        ("NOT_EDITABLE", ["audience"]),
        ("NOT_EDITABLE", ["fromEmail"]),
        ("NOT_EDITABLE", ["utmCode"]),
    ]
    assert await client.snapshot() == before


async def test_channel_type_is_not_part_of_the_update_input(client: GraphQLClient) -> None:
    refs = await make_refs(client)
    campaign = await create_ok(client, refs)
    before = await client.snapshot()
    response = await client.raw(
        "mutation($input: UpdateCampaignInput!) { updateCampaign(input: $input) "
        "{ campaign { id } } }",
        {"input": {"id": campaign["id"], "channelType": "EMAIL"}},
    )
    body = response.json()
    assert body.get("data") is None
    assert len(body["errors"]) == 1
    assert "channelType" in body["errors"][0]["message"]
    assert await client.snapshot() == before


async def _scheduled(client: GraphQLClient) -> tuple[dict[str, Any], datetime]:
    refs = await make_refs(client)
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    campaign = await create_ok(client, refs)
    when = future()
    payload = await client.mutate(
        "scheduleCampaign",
        {"id": campaign["id"], "scheduledAt": when.isoformat()},
        "campaign { status scheduledAt }",
    )
    assert payload == {
        "campaign": {"status": "SCHEDULED", "scheduledAt": when.isoformat()},
        "userErrors": [],
    }
    return campaign, when


async def test_scheduled_campaign_cannot_clear_scheduled_at(client: GraphQLClient) -> None:
    campaign, _ = await _scheduled(client)
    before = await client.snapshot()
    payload = await update(client, {"id": campaign["id"], "scheduledAt": None})
    assert refused(payload, "campaign") == [("INVALID", ["scheduledAt"])]
    assert await client.snapshot() == before


async def test_scheduled_campaign_stays_editable(client: GraphQLClient) -> None:
    campaign, _ = await _scheduled(client)
    later = future(7)
    payload = await client.mutate(
        "updateCampaign",
        {
            "id": campaign["id"],
            "scheduledAt": later.isoformat(),
            "utmCode": "later",
            "executionDurationMinutes": 5,
        },
        "campaign { status scheduledAt utmCode executionDurationMinutes }",
    )
    assert payload == {
        "campaign": {
            "status": "SCHEDULED",
            "scheduledAt": later.isoformat(),
            "utmCode": "later",
            "executionDurationMinutes": 5,
        },
        "userErrors": [],
    }


# --- deleteCampaign ------------------------------------------------------------------------


async def delete(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    return await client.mutate("deleteCampaign", {"id": campaign_id}, "deletedId")


async def test_delete_draft_campaign(client: GraphQLClient) -> None:
    refs = await make_refs(client)
    keep = await create_ok(client, refs, name="Keep")
    gone = await create_ok(client, refs, name="Gone")
    assert await delete(client, gone["id"]) == {"deletedId": gone["id"], "userErrors": []}
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { id } "
        "campaigns { totalCount edges { node { id } } } }",
        {"id": gone["id"]},
    )
    assert data == {
        "campaign": None,
        "campaigns": {"totalCount": 1, "edges": [{"node": {"id": keep["id"]}}]},
    }
    # Its audience, channel and template remain.
    snapshot = await client.snapshot()
    assert [len(snapshot[t]) for t in ("audiences", "email_channels", "email_templates")] == [
        1,
        1,
        1,
    ]


async def test_delete_draft_campaign_with_revenue_removes_its_ltv_entries(
    client: GraphQLClient,
) -> None:
    await make_channel(client)
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    campaign = await make_email_campaign(client)
    payload = await client.mutate(
        "addLtv",
        {"campaignId": campaign["id"], "value": "5", "currency": "USD"},
        "campaign { ltv }",
    )
    assert payload == {"campaign": {"ltv": "5.00"}, "userErrors": []}
    assert await delete(client, campaign["id"]) == {"deletedId": campaign["id"], "userErrors": []}
    snapshot = await client.snapshot()
    assert (snapshot["campaigns"], snapshot["ltv_entries"]) == ([], [])


async def test_delete_scheduled_campaign(client: GraphQLClient) -> None:
    campaign, _ = await _scheduled(client)
    assert await delete(client, campaign["id"]) == {"deletedId": campaign["id"], "userErrors": []}
    assert (await client.snapshot())["campaigns"] == []


async def test_delete_running_campaign_is_refused(client: GraphQLClient) -> None:
    _, campaign = await _started(client, "RUNNING")
    before = await client.snapshot()
    assert refused(await delete(client, campaign["id"]), "deletedId") == [("INVALID_STATE", ["id"])]
    assert await client.snapshot() == before


async def test_delete_unknown_or_foreign_campaign_is_not_found(
    client: GraphQLClient, new_client: NewClient
) -> None:
    other = await new_client("Other")
    theirs = await create_ok(other, await make_refs(other))
    other_before = await other.snapshot()
    before = await client.snapshot()
    for campaign_id in (theirs["id"], encode_id("Campaign", 999_999_999), "garbage"):
        assert refused(await delete(client, campaign_id), "deletedId") == [("NOT_FOUND", ["id"])]
    assert await client.snapshot() == before
    assert await other.snapshot() == other_before


@pytest.mark.parametrize("status", ["PAUSED", "CANCELLED"])
async def test_delete_started_campaign_that_is_not_running(
    client: GraphQLClient, status: str
) -> None:
    _, campaign = await _started(client, status)
    response = await client.raw(
        "mutation($input: DeleteCampaignInput!) { deleteCampaign(input: $input) "
        "{ deletedId userErrors { field code } } }",
        {"input": {"id": campaign["id"]}},
    )
    assert response.json() == {
        "data": {"deleteCampaign": {"deletedId": campaign["id"], "userErrors": []}}
    }
    snapshot = await client.snapshot()
    # The campaign goes with its ledger and execution.
    assert (snapshot["campaigns"], snapshot["deliveries"], snapshot["campaign_executions"]) == (
        [],
        [],
        [],
    )


# --- campaign, node ------------------------------------------------------------------------


async def test_campaign_and_node_queries(client: GraphQLClient, new_client: NewClient) -> None:
    refs = await make_refs(client)
    campaign = await create_ok(client, refs, description="About it")
    data = await client.gql(
        f"""query($id: ID!) {{
            campaign(id: $id) {{ {CAMPAIGN} }}
            node(id: $id) {{ __typename id ... on Campaign {{ name description status }} }}
        }}""",
        {"id": campaign["id"]},
    )
    assert data == {
        "campaign": campaign,
        "node": {
            "__typename": "Campaign",
            "id": campaign["id"],
            "name": "Launch",
            "description": "About it",
            "status": "DRAFT",
        },
    }
    # Another account sees nothing.
    other = await new_client("Other")
    data = await other.gql(
        "query($id: ID!) { campaign(id: $id) { id } node(id: $id) { id } }",
        {"id": campaign["id"]},
    )
    assert data == {"campaign": None, "node": None}


@pytest.mark.parametrize(
    "make_id",
    [
        lambda refs: refs.audience["id"],  # another type's ID
        lambda refs: encode_id("Campaign", 999_999_999),
        lambda refs: "garbage",
        lambda refs: "",
    ],
    ids=["audience-id", "unknown-campaign", "garbage", "empty"],
)
async def test_campaign_query_unknown_is_null(
    client: GraphQLClient, make_id: Callable[[Refs], str]
) -> None:
    refs = await make_refs(client)
    await create_ok(client, refs)
    data = await client.gql("query($id: ID!) { campaign(id: $id) { id } }", {"id": make_id(refs)})
    assert data == {"campaign": None}


async def test_campaign_and_node_with_unknown_account_id_are_null(client: GraphQLClient) -> None:
    response = await client.raw(
        "query($id: ID!) { campaign(id: $id) { id } node(id: $id) { id } }",
        {"id": encode_id("Account", 999_999_999)},
    )
    assert response.json() == {"data": {"campaign": None, "node": None}}


# --- campaigns: filters and paging ---------------------------------------------------------

LIST = """query($filter: CampaignFilter, $first: Int, $after: String, $last: Int, $before: String) {
    campaigns(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
        totalCount
        edges { cursor node { name } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}"""


async def names(client: GraphQLClient, **variables: Any) -> list[str]:
    data = await client.gql(LIST, variables)
    connection = data["campaigns"]
    assert connection["totalCount"] == len(connection["edges"])
    return [edge["node"]["name"] for edge in connection["edges"]]


@dataclass
class Catalogue:
    spring: dict[str, Any]
    summer: dict[str, Any]


async def catalogue(client: GraphQLClient) -> Catalogue:
    """Five campaigns over two audiences and three statuses (created in this order)."""
    refs = await make_refs(client)
    summer = await make_audience(client, "Summer crowd", ["summer"], code="summer-crowd")
    await import_contacts(
        client,
        [
            {"email": "ann@example.test", "tags": ["vip"]},
            {"email": "bob@example.test", "tags": ["summer"]},
        ],
    )
    a = await create_ok(client, refs, name="Spring sale")
    await create_ok(client, refs, name="Newsletter", description="Our SPRING collection")
    c = await create_ok(client, refs, name="50% off", audience=summer["id"])
    d = await create_ok(client, refs, name="Summer_launch", audience=summer["code"])
    await create_ok(client, refs, name="Winter")
    await start_running(client, a["id"])
    await start_running(client, d["id"])
    payload = await client.mutate("cancelCampaign", {"id": c["id"]}, "campaign { status }")
    assert payload["userErrors"] == []
    return Catalogue(spring=refs.audience, summer=summer)


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (None, ["Winter", "Summer_launch", "50% off", "Newsletter", "Spring sale"]),
        ({}, ["Winter", "Summer_launch", "50% off", "Newsletter", "Spring sale"]),
        ({"q": "spring"}, ["Newsletter", "Spring sale"]),
        ({"q": "SALE"}, ["Spring sale"]),
        ({"q": "collection"}, ["Newsletter"]),
        ({"q": "%"}, ["50% off"]),
        ({"q": "_"}, ["Summer_launch"]),
        ({"q": "nothing like it"}, []),
        ({"status": ["RUNNING"]}, ["Summer_launch", "Spring sale"]),
        ({"status": ["DRAFT", "CANCELLED"]}, ["Winter", "50% off", "Newsletter"]),
        ({"status": ["PAUSED"]}, []),
        (
            {"channelType": "EMAIL"},
            ["Winter", "Summer_launch", "50% off", "Newsletter", "Spring sale"],
        ),
        ({"audience": "summer-crowd"}, ["Summer_launch", "50% off"]),
        ({"audience": "SUMMER"}, ["Summer_launch", "50% off"]),
        ({"audience": "vips"}, ["Winter", "Newsletter", "Spring sale"]),
        ({"audience": "no-such-audience"}, []),
        ({"q": "s", "status": ["RUNNING"], "audience": "SPRING"}, ["Spring sale"]),
    ],
)
async def test_campaigns_filters(
    client: GraphQLClient, filter: dict[str, Any] | None, expected: list[str]
) -> None:
    cat = await catalogue(client)
    if filter and filter.get("audience") == "SUMMER":
        filter = {**filter, "audience": cat.summer["id"]}
    if filter and filter.get("audience") == "SPRING":
        filter = {**filter, "audience": cat.spring["id"]}
    assert await names(client, filter=filter) == expected


async def test_campaigns_are_scoped_to_the_account(
    client: GraphQLClient, new_client: NewClient
) -> None:
    await catalogue(client)
    other = await new_client("Other")
    assert await names(other) == []
    # Another account's audience code matches none of ours, and ours none of theirs.
    await make_audience(other, "VIPs")
    assert await names(other, filter={"audience": "vips"}) == []


@pytest.mark.parametrize(
    "filter",
    [{"name": "Spring"}, {"audienceCode": "vips"}, {"status": "NOT_A_STATUS"}],
)
async def test_campaigns_bad_filter_is_a_graphql_error(
    client: GraphQLClient, filter: dict[str, Any]
) -> None:
    response = await client.raw(LIST, {"filter": filter})
    body = response.json()
    assert body.get("data") is None
    assert len(body["errors"]) == 1


async def _five(client: GraphQLClient) -> None:
    refs = await make_refs(client)
    for n in range(1, 6):
        await create_ok(client, refs, name=f"c{n}")


async def page(client: GraphQLClient, **variables: Any) -> dict[str, Any]:
    data = await client.gql(LIST, variables)
    connection: dict[str, Any] = data["campaigns"]
    edges = connection["edges"]
    info = connection["pageInfo"]
    assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
    assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
    return {
        "names": [e["node"]["name"] for e in edges],
        "next": info["hasNextPage"],
        "previous": info["hasPreviousPage"],
        "total": connection["totalCount"],
        "start": info["startCursor"],
        "end": info["endCursor"],
    }


def shape(p: dict[str, Any]) -> tuple[list[str], bool, bool, int]:
    return p["names"], p["next"], p["previous"], p["total"]


async def test_campaigns_forward_paging(client: GraphQLClient) -> None:
    await _five(client)
    first = await page(client, first=2)
    assert shape(first) == (["c5", "c4"], True, False, 5)
    second = await page(client, first=2, after=first["end"])
    assert shape(second) == (["c3", "c2"], True, True, 5)
    third = await page(client, first=2, after=second["end"])
    assert shape(third) == (["c1"], False, True, 5)
    beyond = await page(client, first=2, after=third["end"])
    assert shape(beyond) == ([], False, True, 5)
    assert shape(await page(client)) == (["c5", "c4", "c3", "c2", "c1"], False, False, 5)
    assert shape(await page(client, first=5)) == (["c5", "c4", "c3", "c2", "c1"], False, False, 5)
    assert shape(await page(client, first=0)) == ([], True, False, 5)


async def test_campaigns_backward_paging(client: GraphQLClient) -> None:
    await _five(client)
    last = await page(client, last=2)
    assert shape(last) == (["c2", "c1"], False, True, 5)
    before = await page(client, last=2, before=last["start"])
    assert shape(before) == (["c4", "c3"], True, True, 5)
    top = await page(client, last=2, before=before["start"])
    assert shape(top) == (["c5"], True, False, 5)
    assert shape(await page(client, last=10)) == (["c5", "c4", "c3", "c2", "c1"], False, False, 5)


async def test_campaigns_paging_with_a_filter(client: GraphQLClient) -> None:
    await _five(client)
    refs_filter = {"q": "c"}
    first = await page(client, filter=refs_filter, first=3)
    assert shape(first) == (["c5", "c4", "c3"], True, False, 5)
    rest = await page(client, filter=refs_filter, first=3, after=first["end"])
    assert shape(rest) == (["c2", "c1"], False, True, 5)


@pytest.mark.parametrize(
    "variables",
    [
        {"first": 101},
        {"last": 101},
        {"first": -1},
        {"first": 2, "last": 2},
        {"first": 2, "after": "not-a-cursor"},
        {"last": 2, "before": encode_id("Campaign", 1)},
    ],
)
async def test_campaigns_bad_paging_is_a_top_level_error(
    client: GraphQLClient, variables: dict[str, Any]
) -> None:
    await _five(client)
    response = await client.raw(LIST, variables)
    body = response.json()
    assert body["data"] is None
    assert len(body["errors"]) == 1
    assert body["errors"][0]["path"] == ["campaigns"]
    assert body["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_campaigns_page_of_100_is_allowed(client: GraphQLClient) -> None:
    await _five(client)
    assert shape(await page(client, first=100)) == (
        ["c5", "c4", "c3", "c2", "c1"],
        False,
        False,
        5,
    )


async def test_make_email_campaign_helper_lists_in_campaigns(client: GraphQLClient) -> None:
    await make_channel(client)
    made = await make_email_campaign(client)
    data = await client.gql("{ campaigns { totalCount edges { node { id status } } } }")
    assert data == {
        "campaigns": {"totalCount": 1, "edges": [{"node": {"id": made["id"], "status": "DRAFT"}}]}
    }
