"""Authentication, tenant isolation, global IDs, and the query limits, through real HTTP."""

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import GraphQLClient, import_contacts, make_channel, make_email_campaign

CREATE_CONTACT = (
    'mutation { createContact(input: {email: "intruder@example.test"}) '
    "{ contact { id } userErrors { code } } }"
)


def gid(type_name: str, ident: object) -> str:
    """A global ID built by hand, as a client that guesses would."""
    return base64.urlsafe_b64encode(f"{type_name}:{ident}".encode()).decode().rstrip("=")


def errors_of(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    assert all(e["message"] for e in payload["userErrors"]), payload["userErrors"]
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def node(client: GraphQLClient, global_id: str) -> Any:
    data = await client.gql(
        "query($id: ID!) { node(id: $id) { __typename id } }", {"id": global_id}
    )
    return data["node"]


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer clr_not-a-real-key",
        "Bearer not-even-our-prefix",
        "Bearer",
        "Token",
        "Basic {key}",
        "{key}",
        "Bearer {key}x",
        "Bearer x{key}",
        "Bearer: {key}",
    ],
)
async def test_requests_without_a_valid_key_are_refused(
    client: GraphQLClient, header: str | None
) -> None:
    before = await client.snapshot()
    headers = {} if header is None else {"Authorization": header.format(key=client.key)}
    response = await client.http.post("/graphql", json={"query": CREATE_CONTACT}, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert "data" not in body
    assert len(body["errors"]) == 1
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await client.snapshot() == before


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer", "TOKEN"])
async def test_bearer_and_token_schemes_work(
    client: GraphQLClient, new_client: Any, scheme: str
) -> None:
    other = await new_client("Other")
    mine = (await client.gql("{ viewer { id } }"))["viewer"]["id"]
    response = await client.http.post(
        "/graphql",
        json={"query": "{ viewer { id name } }"},
        headers={"Authorization": f"{scheme} {client.key}"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"id": mine, "name": "Acme"}}}
    # The key decides the account.
    theirs = (await other.gql("{ viewer { id name } }"))["viewer"]
    assert theirs["id"] != mine
    assert theirs["name"] == "Other"


async def test_graphiql_page_is_open(client: GraphQLClient) -> None:
    response = await client.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    # A GET that carries a query is an API request: it needs a key.
    response = await client.http.get(
        "/graphql", params={"query": "{ viewer { id } }"}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # A GET without text/html is not the page either.
    response = await client.http.get("/graphql", headers={"Accept": "application/json"})
    assert response.status_code == 401


async def test_health(client: GraphQLClient) -> None:
    """Open to all. This server runs no worker, so it is unavailable for campaigns, and says
    why (tests/test_health.py has the whole story)."""
    response = await client.http.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert (body["checks"]["database"], body["checks"]["redis"]) == ("ok", "ok")
    assert body["checks"]["worker"].startswith("no sweeper tick since Redis started ")


# --------------------------------------------------------------------------- tenant isolation


@dataclass
class World:
    """Account A with one of everything, and account B with nothing."""

    a: GraphQLClient
    b: GraphQLClient
    ids: dict[str, str]
    audience_code: str


@pytest.fixture
async def world(client: GraphQLClient, new_client: Any) -> World:
    await make_channel(client)
    await import_contacts(
        client, [{"email": "ann@example.test", "firstName": "Ann", "tags": ["vip"]}]
    )
    campaign = await make_email_campaign(client)
    data = await client.gql(
        "query($id: ID!) { viewer { id } campaign(id: $id) { id audience { id code } "
        "emailChannel { id } emailTemplate { id } } contacts { edges { node { id } } } }",
        {"id": campaign["id"]},
    )
    found = data["campaign"]
    ids = {
        "Account": data["viewer"]["id"],
        "Campaign": found["id"],
        "Audience": found["audience"]["id"],
        "EmailChannel": found["emailChannel"]["id"],
        "EmailTemplate": found["emailTemplate"]["id"],
        "Contact": data["contacts"]["edges"][0]["node"]["id"],
    }
    return World(
        a=client, b=await new_client("Intruder"), ids=ids, audience_code=found["audience"]["code"]
    )


TYPES = ["Account", "Audience", "Campaign", "Contact", "EmailChannel", "EmailTemplate"]


@pytest.mark.parametrize("type_name", TYPES)
async def test_node_of_another_account_is_null(world: World, type_name: str) -> None:
    own = await node(world.a, world.ids[type_name])
    assert own == {"__typename": type_name, "id": world.ids[type_name]}
    assert await node(world.b, world.ids[type_name]) is None


async def test_campaign_of_another_account_is_null(world: World) -> None:
    query = "query($id: ID!) { campaign(id: $id) { id } }"
    assert await world.b.gql(query, {"id": world.ids["Campaign"]}) == {"campaign": None}


LISTS = {
    "Campaign": "campaigns",
    "Audience": "audiences",
    "Contact": "contacts",
    "EmailChannel": "emailChannels",
    "EmailTemplate": "emailTemplates",
}


@pytest.mark.parametrize(("type_name", "field"), LISTS.items())
async def test_lists_hold_only_own_objects(world: World, type_name: str, field: str) -> None:
    query = f"{{ {field} {{ totalCount edges {{ node {{ id }} }} }} }}"
    mine = (await world.a.gql(query))[field]
    assert mine == {"totalCount": 1, "edges": [{"node": {"id": world.ids[type_name]}}]}
    assert (await world.b.gql(query))[field] == {"totalCount": 0, "edges": []}


async def test_filters_do_not_reach_another_account(world: World) -> None:
    b = world.b
    for ref in (world.ids["Audience"], world.audience_code):
        data = await b.gql(
            "query($a: ID) { campaigns(filter: {audience: $a}) { totalCount } }", {"a": ref}
        )
        assert data == {"campaigns": {"totalCount": 0}}
    data = await b.gql('{ contacts(filter: {tags: ["vip"], q: "ann"}) { totalCount } }')
    assert data == {"contacts": {"totalCount": 0}}
    # B's own audience on the same tag counts only B's contacts.
    payload = await b.mutate(
        "createAudience", {"name": "Vip", "tags": ["vip"]}, "audience { code reachableCount }"
    )
    assert payload["audience"] == {"code": "vip", "reachableCount": 0}
    # And the same codes are free in B.
    payload = await b.mutate(
        "createAudience",
        {"name": "x", "tags": ["x"], "code": world.audience_code},
        "audience { code }",
    )
    assert payload == {"audience": {"code": world.audience_code}, "userErrors": []}


CAMPAIGN_ACTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("updateCampaign", {"name": "Hacked", "utmCode": "x"}, "campaign { id }"),
    ("deleteCampaign", {}, "deletedId"),
    ("scheduleCampaign", {"scheduledAt": "2099-01-01T00:00:00+00:00"}, "campaign { id }"),
    ("startCampaign", {}, "campaign { id }"),
    ("pauseCampaign", {}, "campaign { id }"),
    ("resumeCampaign", {}, "campaign { id }"),
    ("cancelCampaign", {}, "campaign { id }"),
]
OTHER_WRITES: list[tuple[str, str, dict[str, Any], str]] = [
    ("Contact", "updateContact", {"firstName": "Hacked", "tags": []}, "contact { id }"),
    ("Contact", "deleteContact", {}, "deletedId"),
    ("Audience", "updateAudience", {"name": "Hacked", "tags": ["x"]}, "audience { id }"),
    ("Audience", "deleteAudience", {}, "deletedId"),
    ("EmailChannel", "updateEmailChannel", {"smtpHost": "evil.test"}, "emailChannel { id }"),
    ("EmailChannel", "deleteEmailChannel", {}, "deletedId"),
    ("EmailTemplate", "updateEmailTemplate", {"subject": "Hacked"}, "emailTemplate { id }"),
    ("EmailTemplate", "deleteEmailTemplate", {}, "deletedId"),
]
WRITES = [("Campaign", *action) for action in CAMPAIGN_ACTIONS] + OTHER_WRITES


@pytest.mark.parametrize(
    ("type_name", "mutation", "fields", "selection"), WRITES, ids=[w[1] for w in WRITES]
)
async def test_cannot_change_objects_of_another_account(
    world: World, type_name: str, mutation: str, fields: dict[str, Any], selection: str
) -> None:
    before_a = await world.a.snapshot()
    before_b = await world.b.snapshot()
    payload = await world.b.mutate(mutation, {"id": world.ids[type_name], **fields}, selection)
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    assert all(value is None for key, value in payload.items() if key != "userErrors")
    assert await world.a.snapshot() == before_a
    assert await world.b.snapshot() == before_b


async def test_cannot_add_ltv_to_a_campaign_of_another_account(world: World) -> None:
    before_a = await world.a.snapshot()
    before_b = await world.b.snapshot()
    payload = await world.b.mutate(
        "addLtv",
        {"campaignId": world.ids["Campaign"], "value": "10.00", "currency": "USD"},
        "campaign { id } contact { id }",
    )
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    assert (payload["campaign"], payload["contact"]) == (None, None)
    assert await world.a.snapshot() == before_a
    assert await world.b.snapshot() == before_b


async def test_add_ltv_not_found_names_campaign_id(world: World) -> None:
    payload = await world.b.mutate(
        "addLtv",
        {"campaignId": world.ids["Campaign"], "value": "10.00", "currency": "USD"},
        "campaign { id }",
    )
    assert errors_of(payload) == [(["campaignId"], "NOT_FOUND")]


async def test_add_ltv_cannot_name_a_contact_of_another_account(world: World) -> None:
    await make_channel(world.b)
    await import_contacts(world.b, [{"email": "bob@example.test", "tags": ["vip"]}])
    campaign = await make_email_campaign(world.b)
    before_a = await world.a.snapshot()
    before_b = await world.b.snapshot()
    payload = await world.b.mutate(
        "addLtv",
        {
            "campaignId": campaign["id"],
            "value": "10.00",
            "currency": "USD",
            "contactEmail": "ann@example.test",
        },
        "campaign { id } contact { id }",
    )
    assert errors_of(payload) == [(["contactEmail"], "NOT_FOUND")]
    assert await world.a.snapshot() == before_a
    assert await world.b.snapshot() == before_b


@pytest.mark.parametrize(
    ("field", "type_name"),
    [
        ("audience", "Audience"),
        ("emailChannel", "EmailChannel"),
        ("emailTemplate", "EmailTemplate"),
    ],
)
async def test_cannot_use_objects_of_another_account_in_a_campaign(
    world: World, field: str, type_name: str
) -> None:
    b = world.b
    await make_channel(b)
    own = await make_email_campaign(b)
    data = await b.gql(
        "query($id: ID!) { campaign(id: $id) { audience { id } emailChannel { id } "
        "emailTemplate { id } } }",
        {"id": own["id"]},
    )
    refs = {name: ref["id"] for name, ref in data["campaign"].items()}
    before_a = await world.a.snapshot()
    before_b = await b.snapshot()
    payload = await b.mutate(
        "createCampaign",
        {"name": "Stolen", **refs, field: world.ids[type_name]},
        "campaign { id }",
    )
    assert payload["campaign"] is None
    assert errors_of(payload) == [([field], "NOT_FOUND")]
    payload = await b.mutate(
        "updateCampaign", {"id": own["id"], field: world.ids[type_name]}, "campaign { id }"
    )
    assert payload["campaign"] is None
    assert errors_of(payload) == [([field], "NOT_FOUND")]
    assert await world.a.snapshot() == before_a
    assert await b.snapshot() == before_b


async def test_cannot_use_channel_code_of_another_account(world: World) -> None:
    before = await world.b.snapshot()
    payload = await world.b.mutate(
        "createEmailCampaign",
        {
            "campaignName": "x",
            "emailChannel": "main",
            "contactTags": ["vip"],
            "subject": "s",
            "bodyHtml": "b",
        },
        "campaign { id }",
    )
    assert errors_of(payload) == [(["emailChannel"], "NOT_FOUND")]
    assert await world.b.snapshot() == before


async def test_update_account_changes_only_the_viewer(world: World) -> None:
    before_a = await world.a.snapshot()
    payload = await world.b.mutate(
        "updateAccount",
        {"name": "Renamed", "defaultFromEmail": "b@example.test"},
        "account { id name defaultFromEmail }",
    )
    assert payload["userErrors"] == []
    assert payload["account"]["name"] == "Renamed"
    assert payload["account"]["id"] != world.ids["Account"]
    assert await world.a.snapshot() == before_a
    assert (await world.a.gql("{ viewer { name } }")) == {"viewer": {"name": "Acme"}}


# --------------------------------------------------------------------------- global IDs


MALFORMED_IDS = [
    "",
    "not base64 !!",
    "Q29udGFjdA",  # "Contact": no colon
    gid("Contact", ""),
    gid("Contact", "abc"),
    gid("Contact", -1),
    gid("Contact", "1.5"),
    gid("Nope", 1),
    gid("Contact", 999_999_999),
    base64.b64encode(b"\xff\xfe:1").decode(),
]


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
async def test_malformed_global_id(world: World, bad_id: str) -> None:
    before = await world.a.snapshot()
    for mutation, selection in [
        ("updateContact", "contact { id }"),
        ("deleteContact", "deletedId"),
        ("updateCampaign", "campaign { id }"),
        ("startCampaign", "campaign { id }"),
    ]:
        payload = await world.a.mutate(mutation, {"id": bad_id}, selection)
        assert errors_of(payload) == [(["id"], "NOT_FOUND")], mutation
    payload = await world.a.mutate(
        "addLtv", {"campaignId": bad_id, "value": "1", "currency": "USD"}, "campaign { id }"
    )
    assert errors_of(payload) == [(["campaignId"], "NOT_FOUND")]
    assert await node(world.a, bad_id) is None
    assert await world.a.snapshot() == before


@pytest.mark.parametrize("type_name", TYPES)
async def test_node_of_a_missing_id_is_null(client: GraphQLClient, type_name: str) -> None:
    assert await node(client, gid(type_name, 2_000_000_000)) is None


@pytest.mark.parametrize("ident", [10**30, 2**63, "²"])
async def test_out_of_range_global_id(client: GraphQLClient, ident: object) -> None:
    bad_id = gid("Contact", ident)
    response = await client.raw(
        "mutation($id: ID!) { deleteContact(input: {id: $id}) "
        "{ deletedId userErrors { field code } } }",
        {"id": bad_id},
    )
    assert response.json() == {
        "data": {
            "deleteContact": {
                "deletedId": None,
                "userErrors": [{"field": ["id"], "code": "NOT_FOUND"}],
            }
        }
    }


WRONG_TYPE = [
    ("Contact", "updateCampaign", "campaign { id }"),
    ("Contact", "deleteCampaign", "deletedId"),
    ("Campaign", "updateContact", "contact { id }"),
    ("Audience", "deleteEmailChannel", "deletedId"),
    ("EmailChannel", "updateAudience", "audience { id }"),
    ("EmailTemplate", "startCampaign", "campaign { id }"),
    ("Account", "deleteEmailTemplate", "deletedId"),
    ("Campaign", "updateEmailTemplate", "emailTemplate { id }"),
]


@pytest.mark.parametrize(("type_name", "mutation", "selection"), WRONG_TYPE)
async def test_global_id_of_the_wrong_type(
    world: World, type_name: str, mutation: str, selection: str
) -> None:
    before = await world.a.snapshot()
    payload = await world.a.mutate(mutation, {"id": world.ids[type_name]}, selection)
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    assert await world.a.snapshot() == before


async def test_campaign_query_with_an_id_of_another_type(world: World) -> None:
    query = "query($id: ID!) { campaign(id: $id) { id } }"
    assert await world.a.gql(query, {"id": world.ids["Contact"]}) == {"campaign": None}


# --------------------------------------------------------------------------- query limits


def nested(depth: int) -> str:
    """`viewer` with invalid subfields, `depth` fields deep in all."""
    inner = "leaf"
    for i in range(depth - 2, 0, -1):
        inner = f"f{i} {{ {inner} }}"
    return f"query Deep {{ viewer {{ {inner} }} }}"


async def top_level_errors(client: GraphQLClient, query: str) -> list[str]:
    response = await client.raw(query)
    assert response.status_code == 200
    body = response.json()
    assert body.get("data") is None
    return [e["message"] for e in body["errors"]]


async def test_query_depth_limit(client: GraphQLClient) -> None:
    depth_error = "'Deep' exceeds maximum operation depth of 10"
    # Strawberry counts the root field as depth 0: 11 nested fields pass, 12 do not.
    assert depth_error not in await top_level_errors(client, nested(11))
    assert depth_error in await top_level_errors(client, nested(12))
    # A mutation nested too deep is refused before it runs.
    before = await client.snapshot()
    deep = (
        'mutation Deep { createContact(input: {email: "deep@example.test"}) '
        "{ contact { marketingConsent { a { b { c { d { e { f { g { h { i } } } } } } } } } } } }"
    )
    assert depth_error in await top_level_errors(client, deep)
    assert await client.snapshot() == before


def create_contacts(count: int) -> str:
    fields = " ".join(
        f'c{i}: createContact(input: {{email: "alias{i}@example.test"}}) {{ contact {{ id }} }}'
        for i in range(count)
    )
    return f"mutation {{ {fields} }}"


async def test_alias_limit(client: GraphQLClient) -> None:
    before = await client.snapshot()
    assert await top_level_errors(client, create_contacts(21)) == ["21 aliases found. Allowed: 20"]
    assert await client.snapshot() == before
    data = await client.gql(create_contacts(20))
    assert len(data) == 20
    assert await client.gql("{ contacts { totalCount } }") == {"contacts": {"totalCount": 20}}


async def test_token_limit(client: GraphQLClient) -> None:
    def tags(count: int) -> str:
        return " ".join(['"t"'] * count)

    before = await client.snapshot()
    query = (
        'mutation { createContact(input: {email: "tokens@example.test", '
        f"tags: [{tags(5_000)}]}}) {{ contact {{ id }} }} }}"
    )
    errors = await top_level_errors(client, query)
    assert errors == ["Syntax Error: Document contains more than 5000 tokens. Parsing aborted."]
    assert await client.snapshot() == before
    # Just under the limit is fine.
    # (a filter takes at most 50 tags since the input caps: rows of an import instead)
    rows = " ".join(f'{{email: "u{i}@example.test"}}' for i in range(990))
    under = f"mutation {{ importContacts(input: {{contacts: [{rows}]}}) {{ createdCount }} }}"
    assert await client.gql(under) == {"importContacts": {"createdCount": 990}}


async def test_unexpected_exceptions_are_masked(tmp_path: Path) -> None:
    """A database that cannot be opened raises inside the resolver; the client sees only
    "Unexpected error." (run on the real schema, with a context whose database is broken)."""
    from db.engine import connect
    from graph.context import Context
    from graph.schema import schema

    broken = connect(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/clarion.db")
    (tmp_path / "missing" / "dir").rmdir()
    context = Context(db=broken, queue=None, hub=None, renderer=None, account_id=1, request=None)  # type: ignore[arg-type]
    try:
        result = await schema.execute("{ viewer { name } }", context_value=context)
    finally:
        await broken.dispose()
    assert result.errors is not None
    assert [(e.message, e.path) for e in result.errors] == [("Unexpected error.", ["viewer"])]
    assert result.errors[0].original_error is None
