"""Text no database can store (NUL, unpaired surrogates) is refused before anything runs,
inline or in variables, in any argument: the same answer on SQLite and PostgreSQL (where it
was "Unexpected error.", found by tests/test_fuzz_graphql.py)."""

import json
from typing import Any

import pytest

from graph.storable_text import MESSAGE
from tests.support import GraphQLClient, import_contacts, make_channel

REFUSED = {"data": None, "errors": [{"message": MESSAGE, "extensions": {"code": "BAD_USER_INPUT"}}]}


async def post(client: GraphQLClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    # Encoded by hand: an unpaired surrogate travels as a "\ud800" escape, which the
    # client library would refuse to encode as UTF-8.
    response = await client.http.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={"Authorization": f"Bearer {client.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("bad", ["\x00", "Ann\x00", "\ud800", "a\udfffb"])
async def test_mutations_with_unstorable_text_change_nothing(
    client: GraphQLClient, bad: str
) -> None:
    await make_channel(client)
    await import_contacts(client, [{"email": "ann@example.test", "tags": ["vip"]}])
    before = await client.snapshot()
    requests: list[tuple[str, dict[str, Any]]] = [
        # In variables, in a nested list, as a list element.
        (
            "mutation($input: ImportContactsInput!) { importContacts(input: $input) "
            "{ createdCount } }",
            {"input": {"contacts": [{"email": "bob@example.test", "firstName": bad}]}},
        ),
        (
            "mutation($input: CreateAudienceInput!) { createAudience(input: $input) "
            "{ audience { id } } }",
            {"input": {"name": "Fans", "tags": ["vip", bad]}},
        ),
        # Inline, as GraphQL's own escape (an inline unpaired surrogate is a syntax error).
        (
            'mutation { updateAccount(input: {defaultFromName: "Ann\\u0000"}) { account { id } } }',
            {},
        ),
    ]
    for query, variables in requests:
        assert await post(client, query, variables) == REFUSED, query
    assert await client.snapshot() == before


async def test_queries_with_unstorable_text_are_refused(client: GraphQLClient) -> None:
    query = "query($q: String) { contacts(filter: {q: $q}) { totalCount } }"
    assert await post(client, query, {"q": "\x00"}) == REFUSED
    assert await post(client, query, {"q": "\ud800"}) == REFUSED
    assert await post(client, 'query { audiences(q: "a\\u0000") { totalCount } }', {}) == REFUSED


async def test_other_control_characters_and_astral_text_still_reach_the_resolvers(
    client: GraphQLClient,
) -> None:
    query = "query($q: String) { contacts(filter: {q: $q}) { totalCount } }"
    # A surrogate pair is one astral character, not an unpaired surrogate.
    for q in ("\U0001f600", "\ud83d\ude00"):
        assert await post(client, query, {"q": q}) == {"data": {"contacts": {"totalCount": 0}}}
    # Other control characters are the field's own rule to judge (a filter is one line).
    refused = await post(client, query, {"q": "\x01\t\n"})
    assert refused["data"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in refused["errors"]] == [
        (["contacts"], "INVALID")
    ]
