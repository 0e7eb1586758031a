"""Audiences, email channels and email templates through the HTTP API."""

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.support import GraphQLClient, import_contacts, make_channel, make_email_campaign

AUDIENCE = "id name description code tags reachableCount"
CHANNEL = (
    "id code channelType status dailyQuota rateLimit enableEngagementTracking smtpHost smtpPort "
    "smtpSecurity smtpUsername hasSmtpPassword defaultFromEmail defaultFromName "
    "defaultReplyToEmail defaultReplyToName"
)
TEMPLATE = "id name code subject bodyHtml bodyText tags isBase"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def errors_of(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    """(field, code) of each userError, in order; messages must be non-empty."""
    assert all(e["message"] for e in payload["userErrors"]), payload["userErrors"]
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def node(client: GraphQLClient, global_id: str, selection: str) -> Any:
    data = await client.gql(
        f"query($id: ID!) {{ node(id: $id) {{ ... on Node {{ id }} {selection} }} }}",
        {"id": global_id},
    )
    return data["node"]


# --------------------------------------------------------------------------- audiences


async def create_audience(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    payload = await client.mutate("createAudience", fields, f"audience {{ {AUDIENCE} }}")
    assert payload["userErrors"] == [], payload["userErrors"]
    audience: dict[str, Any] = payload["audience"]
    return audience


async def test_create_audience_generates_code_from_name(client: GraphQLClient) -> None:
    first = await create_audience(client, name="Spring Sale!", tags=["vip"])
    assert first.pop("id")
    assert first == {
        "name": "Spring Sale!",
        "description": "",
        "code": "spring-sale",
        "tags": ["vip"],
        "reachableCount": 0,
    }
    second = await create_audience(client, name="Spring  sale", tags=["vip"], description="d")
    assert (second["code"], second["description"]) == ("spring-sale-2", "d")
    third = await create_audience(client, name="spring-SALE", tags=["x"])
    assert third["code"] == "spring-sale-3"
    explicit = await create_audience(client, name="Spring Sale", tags=["x"], code="")
    assert explicit["code"] == "spring-sale-4"
    odd = await create_audience(client, name="¡¡!!", tags=["x"])
    assert odd["code"] == "audience"
    named = await create_audience(client, name="Anything", tags=[" a ", "b", "a"], code="my-1")
    assert (named["code"], named["tags"]) == ("my-1", ["a", "b"])


async def test_generated_audience_code_is_always_a_slug(client: GraphQLClient) -> None:
    audience = await create_audience(client, name="a" * 89 + " " + "b" * 20, tags=["x"])
    assert SLUG.match(audience["code"]), audience["code"]
    assert audience["code"] == "a" * 89


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"code": "Spring Sale"}, [(["code"], "INVALID")]),
        ({"code": "spring--sale"}, [(["code"], "INVALID")]),
        ({"code": "-spring"}, [(["code"], "INVALID")]),
        ({"code": "spring_sale"}, [(["code"], "INVALID")]),
        ({"code": "a" * 101}, [(["code"], "TOO_LONG")]),
        ({"tags": []}, [(["tags"], "REQUIRED")]),
        ({"tags": [f"t{i}" for i in range(51)]}, [(["tags"], "TOO_MANY")]),
        ({"tags": ["ok", ""]}, [(["tags"], "INVALID")]),
        ({"name": ""}, [(["name"], "REQUIRED")]),
        ({"name": "   "}, [(["name"], "REQUIRED")]),
        ({"name": "n" * 256}, [(["name"], "TOO_LONG")]),
        (
            {"name": "", "tags": [], "code": "BAD"},
            [(["name"], "REQUIRED"), (["tags"], "REQUIRED"), (["code"], "INVALID")],
        ),
    ],
)
async def test_create_audience_invalid(
    client: GraphQLClient, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    before = await client.snapshot()
    payload = await client.mutate(
        "createAudience", {"name": "Spring", "tags": ["vip"], **fields}, "audience { id }"
    )
    assert payload["audience"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


async def test_create_audience_duplicate_code(client: GraphQLClient) -> None:
    await create_audience(client, name="Spring", tags=["vip"], code="spring")
    before = await client.snapshot()
    payload = await client.mutate(
        "createAudience", {"name": "Other", "tags": ["x"], "code": "spring"}, "audience { id }"
    )
    assert payload["audience"] is None
    assert errors_of(payload) == [(["code"], "DUPLICATE")]
    assert await client.snapshot() == before


async def test_update_audience(client: GraphQLClient) -> None:
    audience = await create_audience(client, name="Spring", tags=["vip"], description="d")
    other = await create_audience(client, name="Other", tags=["x"])
    payload = await client.mutate(
        "updateAudience", {"id": audience["id"], "name": "Summer"}, f"audience {{ {AUDIENCE} }}"
    )
    # The code does not follow the name.
    assert payload == {"audience": {**audience, "name": "Summer"}, "userErrors": []}
    payload = await client.mutate(
        "updateAudience",
        {"id": audience["id"], "tags": ["a", "b"], "code": "summer", "description": ""},
        f"audience {{ {AUDIENCE} }}",
    )
    expected = {
        **audience,
        "name": "Summer",
        "tags": ["a", "b"],
        "code": "summer",
        "description": "",
    }
    assert payload == {"audience": expected, "userErrors": []}
    assert await node(client, audience["id"], f"... on Audience {{ {AUDIENCE} }}") == expected

    before = await client.snapshot()
    for fields, errors in [
        ({"code": other["code"]}, [(["code"], "DUPLICATE")]),
        ({"code": ""}, [(["code"], "REQUIRED")]),
        ({"code": "Not A Slug"}, [(["code"], "INVALID")]),
        ({"tags": []}, [(["tags"], "REQUIRED")]),
        ({"name": ""}, [(["name"], "REQUIRED")]),
        ({"name": "x" * 256, "tags": [" "]}, [(["name"], "TOO_LONG"), (["tags"], "INVALID")]),
    ]:
        payload = await client.mutate(
            "updateAudience", {"id": audience["id"], **fields}, "audience { id }"
        )
        assert payload["audience"] is None
        assert errors_of(payload) == errors, fields
        assert await client.snapshot() == before


async def test_audience_reachable_count(client: GraphQLClient, new_client: Any) -> None:
    await import_contacts(
        client,
        [
            {"email": "a@x.test", "tags": ["vip"]},
            {"email": "b@x.test", "tags": ["vip"], "marketingConsent": {"email": False}},
            {"email": "c@x.test", "tags": ["vip", "news"]},
            {"email": "d@x.test", "tags": ["news"], "marketingConsent": {"sms": False}},
            {"email": "e@x.test", "tags": ["other"]},
            {"email": "f@x.test"},
        ],
    )
    # Another account's contacts with the same tags do not count.
    other = await new_client("Other")
    await import_contacts(other, [{"email": f"o{i}@x.test", "tags": ["vip"]} for i in range(3)])

    audience = await create_audience(client, name="Both", tags=["vip", "news"])
    assert audience["reachableCount"] == 3
    assert (await create_audience(client, name="Vip", tags=["vip"]))["reachableCount"] == 2
    assert (await create_audience(client, name="None", tags=["nobody"]))["reachableCount"] == 0
    assert (await create_audience(other, name="Vip", tags=["vip"]))["reachableCount"] == 3

    # Counted now: consent and tags changes show at once.
    c = await client.gql('{ contacts(filter: {q: "c@x.test"}) { edges { node { id } } } }')
    c_id = c["contacts"]["edges"][0]["node"]["id"]
    await client.mutate(
        "updateContact", {"id": c_id, "marketingConsent": {"email": False}}, "contact { id }"
    )
    assert (await node(client, audience["id"], "... on Audience { reachableCount }")) == {
        "id": audience["id"],
        "reachableCount": 2,
    }
    payload = await client.mutate(
        "updateAudience",
        {"id": audience["id"], "tags": ["other", "news"]},
        "audience { tags reachableCount }",
    )
    assert payload["audience"] == {"tags": ["other", "news"], "reachableCount": 2}


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements every engine of this process runs meanwhile (the live server
    runs in the test's process)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def test_reachable_count_of_a_page_is_one_query(client: GraphQLClient) -> None:
    await import_contacts(
        client,
        [
            {"email": "a@x.test", "tags": ["t0", "t1"]},
            {"email": "b@x.test", "tags": ["t1"], "marketingConsent": {"email": False}},
            {"email": "c@x.test", "tags": ["t2", "t3", "t4"]},
        ],
    )
    query = "query($n: Int!) { audiences(first: $n) { edges { node { tags reachableCount } } } }"

    async def page(n: int) -> tuple[list[str], list[Any]]:
        with statements() as seen:
            data = await client.gql(query, {"n": n})
        return list(seen), [e["node"] for e in data["audiences"]["edges"]]

    counts = []
    for i in range(12):
        tags = [f"t{i % 5}", f"t{(i + 1) % 5}"]
        await create_audience(client, name=f"A{i}", tags=tags)
        counts.append(len({"a", "c"} & {c for t in tags for c in MEMBERS[t]}))
    few, few_nodes = await page(2)
    many, many_nodes = await page(12)
    assert len(many) == len(few), many
    assert [n["reachableCount"] for n in many_nodes] == counts[::-1]
    assert few_nodes == many_nodes[:2]


MEMBERS = {"t0": {"a"}, "t1": {"a", "b"}, "t2": {"c"}, "t3": {"c"}, "t4": {"c"}}


async def test_delete_audience(client: GraphQLClient) -> None:
    await make_channel(client)
    campaign = await make_email_campaign(client)
    used = campaign["audience"]["id"]
    free = await create_audience(client, name="Free", tags=["x"])

    before = await client.snapshot()
    payload = await client.mutate("deleteAudience", {"id": used}, "deletedId")
    assert payload["deletedId"] is None
    assert errors_of(payload) == [(["id"], "IN_USE")]
    assert await client.snapshot() == before

    payload = await client.mutate("deleteAudience", {"id": free["id"]}, "deletedId")
    assert payload == {"deletedId": free["id"], "userErrors": []}
    assert await node(client, free["id"], "") is None
    data = await client.gql("{ audiences { totalCount edges { node { id } } } }")
    assert data["audiences"] == {"totalCount": 1, "edges": [{"node": {"id": used}}]}

    before = await client.snapshot()
    payload = await client.mutate("deleteAudience", {"id": free["id"]}, "deletedId")
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    assert await client.snapshot() == before

    # Once the campaign is gone, the audience may go.
    assert (await client.mutate("deleteCampaign", {"id": campaign["id"]}, "deletedId"))[
        "userErrors"
    ] == []
    payload = await client.mutate("deleteAudience", {"id": used}, "deletedId")
    assert payload == {"deletedId": used, "userErrors": []}


async def test_audiences_query_search(client: GraphQLClient) -> None:
    for name in ("Spring 50%", "Summer", "spring_x"):
        await create_audience(client, name=name, tags=["x"])
    data = await client.gql('{ audiences(q: "SPRING") { totalCount edges { node { name } } } }')
    assert [e["node"]["name"] for e in data["audiences"]["edges"]] == ["spring_x", "Spring 50%"]
    data = await client.gql('{ audiences(q: "%") { edges { node { name } } } }')
    assert [e["node"]["name"] for e in data["audiences"]["edges"]] == ["Spring 50%"]


# --------------------------------------------------------------------------- email channels


async def create_channel(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    input = {"code": "main", "channelType": "MARKETING", "smtpHost": "smtp.example.test", **fields}
    payload = await client.mutate("createEmailChannel", input, f"emailChannel {{ {CHANNEL} }}")
    assert payload["userErrors"] == [], payload["userErrors"]
    channel: dict[str, Any] = payload["emailChannel"]
    return channel


async def test_create_email_channel_defaults(client: GraphQLClient) -> None:
    channel = await create_channel(client, code="  Main-Ch_1 ")
    assert channel.pop("id")
    assert channel == {
        "code": "main-ch_1",
        "channelType": "MARKETING",
        "status": "ACTIVE",
        "dailyQuota": 1000,
        "rateLimit": 10,
        "enableEngagementTracking": False,
        "smtpHost": "smtp.example.test",
        "smtpPort": 587,
        "smtpSecurity": "STARTTLS",
        "smtpUsername": "",
        "hasSmtpPassword": False,
        "defaultFromEmail": "",
        "defaultFromName": "",
        "defaultReplyToEmail": "",
        "defaultReplyToName": "",
    }


async def test_create_email_channel_every_field(client: GraphQLClient) -> None:
    fields = {
        "code": "bulk",
        "channelType": "BROADCAST",
        "smtpHost": "mx.example.test",
        "smtpPort": 465,
        "smtpSecurity": "TLS",
        "smtpUsername": "user",
        "smtpPassword": "s3cret-password",
        "status": "PENDING",
        "dailyQuota": 100_000_000,
        "rateLimit": 10_000,
        "enableEngagementTracking": True,
        "defaultFromEmail": "from@example.test",
        "defaultFromName": "From",
        "defaultReplyToEmail": "reply@example.test",
        "defaultReplyToName": "Reply",
    }
    channel = await create_channel(client, **fields)
    del channel["id"], fields["smtpPassword"]
    assert channel == {**fields, "hasSmtpPassword": True}


async def test_create_email_channel_without_rate_limit(client: GraphQLClient) -> None:
    channel = await create_channel(client, rateLimit=None)
    assert channel["rateLimit"] is None


async def test_update_email_channel_rate_limit_null_removes_limit(client: GraphQLClient) -> None:
    channel = await create_channel(client, rateLimit=5)
    select = "emailChannel { rateLimit dailyQuota }"
    payload = await client.mutate(
        "updateEmailChannel", {"id": channel["id"], "dailyQuota": 7}, select
    )
    assert payload == {"emailChannel": {"rateLimit": 5, "dailyQuota": 7}, "userErrors": []}
    payload = await client.mutate(
        "updateEmailChannel", {"id": channel["id"], "rateLimit": None}, select
    )
    assert payload == {"emailChannel": {"rateLimit": None, "dailyQuota": 7}, "userErrors": []}
    assert await node(client, channel["id"], "... on EmailChannel { rateLimit }") == {
        "id": channel["id"],
        "rateLimit": None,
    }
    payload = await client.mutate(
        "updateEmailChannel", {"id": channel["id"], "rateLimit": 1}, select
    )
    assert payload == {"emailChannel": {"rateLimit": 1, "dailyQuota": 7}, "userErrors": []}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"code": "bad code"}, [(["code"], "INVALID")]),
        ({"code": "bad.code"}, [(["code"], "INVALID")]),
        ({"code": "über"}, [(["code"], "INVALID")]),
        ({"code": ""}, [(["code"], "REQUIRED")]),
        ({"code": "c" * 51}, [(["code"], "TOO_LONG")]),
        ({"rateLimit": 0}, [(["rateLimit"], "OUT_OF_RANGE")]),
        ({"rateLimit": 10_001}, [(["rateLimit"], "OUT_OF_RANGE")]),
        ({"rateLimit": -1}, [(["rateLimit"], "OUT_OF_RANGE")]),
        ({"dailyQuota": 0}, [(["dailyQuota"], "OUT_OF_RANGE")]),
        ({"dailyQuota": 100_000_001}, [(["dailyQuota"], "OUT_OF_RANGE")]),
        ({"smtpPort": 0}, [(["smtpPort"], "OUT_OF_RANGE")]),
        ({"smtpPort": 65_536}, [(["smtpPort"], "OUT_OF_RANGE")]),
        ({"smtpHost": " "}, [(["smtpHost"], "REQUIRED")]),
        ({"smtpPassword": "p" * 256}, [(["smtpPassword"], "TOO_LONG")]),
        ({"defaultFromEmail": "nope"}, [(["defaultFromEmail"], "INVALID")]),
        ({"defaultReplyToName": "n" * 256}, [(["defaultReplyToName"], "TOO_LONG")]),
        (
            {"code": "c" * 51, "rateLimit": 0, "dailyQuota": 0},
            [
                (["code"], "TOO_LONG"),
                (["rateLimit"], "OUT_OF_RANGE"),
                (["dailyQuota"], "OUT_OF_RANGE"),
            ],
        ),
    ],
)
async def test_create_email_channel_invalid(
    client: GraphQLClient, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    before = await client.snapshot()
    input = {"code": "main", "channelType": "MARKETING", "smtpHost": "h.test", **fields}
    payload = await client.mutate("createEmailChannel", input, "emailChannel { id }")
    assert payload["emailChannel"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


async def test_email_channel_code_boundaries(client: GraphQLClient) -> None:
    channel = await create_channel(client, code="C" * 50, rateLimit=1, dailyQuota=1)
    assert (channel["code"], channel["rateLimit"], channel["dailyQuota"]) == ("c" * 50, 1, 1)


@pytest.mark.parametrize("code", ["main", "MAIN", " Main "])
async def test_create_email_channel_duplicate_code(client: GraphQLClient, code: str) -> None:
    await create_channel(client, code="main")
    before = await client.snapshot()
    payload = await client.mutate(
        "createEmailChannel",
        {"code": code, "channelType": "BROADCAST", "smtpHost": "h.test"},
        "emailChannel { id }",
    )
    assert payload["emailChannel"] is None
    assert errors_of(payload) == [(["code"], "DUPLICATE")]
    assert await client.snapshot() == before


async def test_smtp_password_is_never_readable(client: GraphQLClient) -> None:
    secret = "very-secret-pw-1234"
    response = await client.raw(
        "mutation($input: CreateEmailChannelInput!) { createEmailChannel(input: $input) "
        f"{{ emailChannel {{ {CHANNEL} }} userErrors {{ code }} }} }}",
        {
            "input": {
                "code": "main",
                "channelType": "MARKETING",
                "smtpHost": "h.test",
                "smtpUsername": "u",
                "smtpPassword": secret,
            }
        },
    )
    assert response.status_code == 200
    assert secret not in response.text
    channel = response.json()["data"]["createEmailChannel"]["emailChannel"]
    assert channel["hasSmtpPassword"] is True

    response = await client.raw("{ emailChannels { edges { node { smtpPassword } } } }")
    body = response.json()
    assert body["data"] is None
    assert len(body["errors"]) == 1
    assert body["errors"][0]["message"].startswith(
        "Cannot query field 'smtpPassword' on type 'EmailChannel'."
    )
    response = await client.raw(
        "query($id: ID!) { node(id: $id) { ... on EmailChannel { smtpPassword } } }",
        {"id": channel["id"]},
    )
    assert "errors" in response.json()
    assert secret not in response.text

    # Updating other fields keeps the password; an empty one clears it.
    select = "emailChannel { hasSmtpPassword smtpUsername }"
    payload = await client.mutate(
        "updateEmailChannel", {"id": channel["id"], "smtpUsername": "v"}, select
    )
    assert payload["emailChannel"] == {"hasSmtpPassword": True, "smtpUsername": "v"}
    payload = await client.mutate(
        "updateEmailChannel", {"id": channel["id"], "smtpPassword": ""}, select
    )
    assert payload["emailChannel"] == {"hasSmtpPassword": False, "smtpUsername": "v"}


async def test_update_email_channel(client: GraphQLClient) -> None:
    channel = await create_channel(client, code="main")
    await create_channel(client, code="other")
    payload = await client.mutate(
        "updateEmailChannel",
        {
            "id": channel["id"],
            "code": "Renamed",
            "status": "SUSPENDED",
            "enableEngagementTracking": True,
            "smtpSecurity": "NONE",
            "smtpPort": 25,
            "channelType": None,
        },
        f"emailChannel {{ {CHANNEL} }}",
    )
    expected = {
        **channel,
        "code": "renamed",
        "status": "SUSPENDED",
        "enableEngagementTracking": True,
        "smtpSecurity": "NONE",
        "smtpPort": 25,
    }
    assert payload == {"emailChannel": expected, "userErrors": []}

    before = await client.snapshot()
    cases: list[tuple[dict[str, Any], list[tuple[list[str], str]]]] = [
        ({"code": "OTHER"}, [(["code"], "DUPLICATE")]),
        ({"code": "x y"}, [(["code"], "INVALID")]),
        ({"rateLimit": 0}, [(["rateLimit"], "OUT_OF_RANGE")]),
        (
            {"dailyQuota": 0, "smtpHost": ""},
            [(["dailyQuota"], "OUT_OF_RANGE"), (["smtpHost"], "REQUIRED")],
        ),
    ]
    for fields, errors in cases:
        payload = await client.mutate(
            "updateEmailChannel", {"id": channel["id"], **fields}, "emailChannel { id }"
        )
        assert payload["emailChannel"] is None
        assert errors_of(payload) == errors, fields
        assert await client.snapshot() == before


async def test_delete_email_channel(client: GraphQLClient) -> None:
    used = await make_channel(client)
    await make_email_campaign(client)
    free = await create_channel(client, code="free")

    before = await client.snapshot()
    payload = await client.mutate("deleteEmailChannel", {"id": used["id"]}, "deletedId")
    assert payload["deletedId"] is None
    assert errors_of(payload) == [(["id"], "IN_USE")]
    assert await client.snapshot() == before

    payload = await client.mutate("deleteEmailChannel", {"id": free["id"]}, "deletedId")
    assert payload == {"deletedId": free["id"], "userErrors": []}
    data = await client.gql("{ emailChannels { totalCount edges { node { code } } } }")
    assert data["emailChannels"] == {"totalCount": 1, "edges": [{"node": {"code": "main"}}]}
    before = await client.snapshot()
    payload = await client.mutate("deleteEmailChannel", {"id": free["id"]}, "deletedId")
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    assert await client.snapshot() == before


# --------------------------------------------------------------------------- email templates


def template_input(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Welcome",
        "code": "welcome",
        "subject": "Hi {{ first_name }}",
        "bodyHtml": "<p>{{ first_name }}</p><a href='{{ unsubscribe_link }}'>x</a>",
        **fields,
    }


async def create_template(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    payload = await client.mutate(
        "createEmailTemplate", template_input(**fields), f"emailTemplate {{ {TEMPLATE} }}"
    )
    assert payload["userErrors"] == [], payload["userErrors"]
    template: dict[str, Any] = payload["emailTemplate"]
    return template


async def test_create_email_template(client: GraphQLClient) -> None:
    template = await create_template(client)
    assert template.pop("id")
    assert template == {**template_input(), "bodyText": "", "tags": [], "isBase": False}
    full = await create_template(
        client,
        code="full",
        subject="s" * 255,
        bodyText="{% for x in items %}{{ x }}{% endfor %}",
        tags=["t1"],
        isBase=True,
    )
    assert (full["subject"], full["tags"], full["isBase"]) == ("s" * 255, ["t1"], True)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"subject": "Hi {{ first_name "}, [(["subject"], "TEMPLATE_SYNTAX")]),
        ({"subject": "{% if x %}open"}, [(["subject"], "TEMPLATE_SYNTAX")]),
        ({"bodyHtml": "<p>{% if x %}</p>"}, [(["bodyHtml"], "TEMPLATE_SYNTAX")]),
        ({"bodyHtml": "{{ }}"}, [(["bodyHtml"], "TEMPLATE_SYNTAX")]),
        ({"bodyText": "{% endfor %}"}, [(["bodyText"], "TEMPLATE_SYNTAX")]),
        ({"bodyText": "{{ a | }}"}, [(["bodyText"], "TEMPLATE_SYNTAX")]),
        ({"subject": "s" * 256}, [(["subject"], "TOO_LONG")]),
        ({"subject": ""}, [(["subject"], "REQUIRED")]),
        ({"bodyHtml": " "}, [(["bodyHtml"], "REQUIRED")]),
        ({"name": ""}, [(["name"], "REQUIRED")]),
        ({"name": "n" * 256}, [(["name"], "TOO_LONG")]),
        ({"code": ""}, [(["code"], "REQUIRED")]),
        ({"code": "c" * 101}, [(["code"], "TOO_LONG")]),
        ({"tags": ["  "]}, [(["tags"], "INVALID")]),
        (
            {"subject": "{{", "bodyHtml": "{%", "bodyText": "{# x"},
            [
                (["subject"], "TEMPLATE_SYNTAX"),
                (["bodyHtml"], "TEMPLATE_SYNTAX"),
                (["bodyText"], "TEMPLATE_SYNTAX"),
            ],
        ),
    ],
)
async def test_create_email_template_invalid(
    client: GraphQLClient, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    before = await client.snapshot()
    payload = await client.mutate(
        "createEmailTemplate", template_input(**fields), "emailTemplate { id }"
    )
    assert payload["emailTemplate"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


async def test_create_email_template_duplicate_code(client: GraphQLClient) -> None:
    await create_template(client)
    before = await client.snapshot()
    payload = await client.mutate(
        "createEmailTemplate", template_input(name="Other"), "emailTemplate { id }"
    )
    assert payload["emailTemplate"] is None
    assert errors_of(payload) == [(["code"], "DUPLICATE")]
    assert await client.snapshot() == before


async def test_update_email_template(client: GraphQLClient) -> None:
    template = await create_template(client)
    await create_template(client, code="other")
    payload = await client.mutate(
        "updateEmailTemplate",
        {"id": template["id"], "subject": "New {{ email }}", "tags": ["a"], "name": None},
        f"emailTemplate {{ {TEMPLATE} }}",
    )
    expected = {**template, "subject": "New {{ email }}", "tags": ["a"]}
    assert payload == {"emailTemplate": expected, "userErrors": []}
    payload = await client.mutate(
        "updateEmailTemplate",
        {"id": template["id"], "code": "renamed", "bodyText": "plain", "isBase": True},
        f"emailTemplate {{ {TEMPLATE} }}",
    )
    expected = {**expected, "code": "renamed", "bodyText": "plain", "isBase": True}
    assert payload == {"emailTemplate": expected, "userErrors": []}
    assert await node(client, template["id"], f"... on EmailTemplate {{ {TEMPLATE} }}") == expected

    before = await client.snapshot()
    for fields, errors in [
        ({"code": "other"}, [(["code"], "DUPLICATE")]),
        ({"subject": "{{ x"}, [(["subject"], "TEMPLATE_SYNTAX")]),
        ({"bodyHtml": "{% for %}"}, [(["bodyHtml"], "TEMPLATE_SYNTAX")]),
        ({"bodyText": "{{ }"}, [(["bodyText"], "TEMPLATE_SYNTAX")]),
        ({"subject": "s" * 256, "name": ""}, [(["name"], "REQUIRED"), (["subject"], "TOO_LONG")]),
    ]:
        payload = await client.mutate(
            "updateEmailTemplate", {"id": template["id"], **fields}, "emailTemplate { id }"
        )
        assert payload["emailTemplate"] is None
        assert errors_of(payload) == errors, fields
        assert await client.snapshot() == before


async def test_delete_email_template(client: GraphQLClient) -> None:
    await make_channel(client)
    campaign = await make_email_campaign(client)
    data = await client.gql(
        "query($id: ID!) { campaign(id: $id) { emailTemplate { id } } }", {"id": campaign["id"]}
    )
    used = data["campaign"]["emailTemplate"]["id"]
    free = await create_template(client, code="free")

    before = await client.snapshot()
    payload = await client.mutate("deleteEmailTemplate", {"id": used}, "deletedId")
    assert payload["deletedId"] is None
    assert errors_of(payload) == [(["id"], "IN_USE")]
    assert await client.snapshot() == before

    payload = await client.mutate("deleteEmailTemplate", {"id": free["id"]}, "deletedId")
    assert payload == {"deletedId": free["id"], "userErrors": []}
    data = await client.gql("{ emailTemplates { totalCount edges { node { id } } } }")
    assert data["emailTemplates"] == {"totalCount": 1, "edges": [{"node": {"id": used}}]}
    before = await client.snapshot()
    payload = await client.mutate("deleteEmailTemplate", {"id": free["id"]}, "deletedId")
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    assert await client.snapshot() == before
