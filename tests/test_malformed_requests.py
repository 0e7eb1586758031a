"""Malformed request bodies are 400s that change nothing, never 500s: JSON Python's parser
refuses beyond syntax (an integer over 4,300 digits, nesting deeper than its recursion
limit) and JSON that is not an object (these were 500s, found by probing as the fuzz does)."""

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support import GraphQLClient
from tests.test_websocket_auth import PROTOCOL

QUERY = '"query": "query($q: String) { contacts(filter: {q: $q}) { totalCount } }"'
NOT_JSON = "Unable to parse request body as JSON"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{" + QUERY + ', "variables": {"q": ' + "9" * 5000 + "}}", NOT_JSON),
        ("{" + QUERY + ', "variables": {"q": ' + "[" * 100_000 + "]" * 100_000 + "}}", NOT_JSON),
        ('"{ viewer { id } }"', NOT_JSON),
        ("5", NOT_JSON),
        ("{" + QUERY + ', "variables": 5}', None),
        ("{not json", NOT_JSON),
    ],
)
async def test_malformed_post_bodies_are_400(
    client: GraphQLClient, body: str, message: str | None
) -> None:
    before = await client.snapshot()
    response = await client.http.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {client.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    if message is not None:
        assert response.text == message
    assert await client.snapshot() == before


async def test_get_variables_with_a_huge_integer_are_400(client: GraphQLClient) -> None:
    response = await client.http.get(
        "/graphql",
        params={"query": "{ viewer { id } }", "variables": '{"x": ' + "9" * 5000 + "}"},
        headers={"Authorization": f"Bearer {client.key}"},
    )
    assert (response.status_code, response.text) == (400, NOT_JSON)


@pytest.mark.parametrize("message", ["9" * 5000, "[" * 100_000 + "]" * 100_000])
async def test_websocket_message_python_cannot_parse_closes_it_as_non_json(
    client: GraphQLClient, message: str
) -> None:
    """graphql-transport-ws closes with 4400 on a message that is not JSON; these were an
    exception in the handler instead."""
    url = client.server.url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400
