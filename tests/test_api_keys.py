"""API keys through the API: listed (prefix, created, last used), created (shown once) and
revoked; a revoked key is refused at once, on HTTP and on the WebSockets it had opened; an
account cannot revoke its last key, nor another account's; and at most 10 WebSockets per
account (per API process)."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from graph.sockets import MAX_PER_ACCOUNT
from tests.support import GraphQLClient, NewClient

PROTOCOL = "graphql-transport-ws"
KEYS = "{ apiKeys { totalCount edges { node { id name prefix createdAt lastUsedAt } } } }"


async def keys_of(client: GraphQLClient, key: str | None = None) -> list[dict[str, Any]]:
    response = await client.raw(KEYS, key=key)
    assert response.status_code == 200, response.text
    connection = response.json()["data"]["apiKeys"]
    assert connection["totalCount"] == len(connection["edges"])
    return [edge["node"] for edge in connection["edges"]]


async def create_key(client: GraphQLClient, name: str) -> dict[str, Any]:
    payload = await client.mutate(
        "createApiKey", {"name": name}, "key apiKey { id name prefix createdAt lastUsedAt }"
    )
    assert payload["userErrors"] == []
    return payload


async def revoke(client: GraphQLClient, key_id: str, key: str | None = None) -> dict[str, Any]:
    query = (
        "mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) "
        "{ revokedId userErrors { field message code } } }"
    )
    response = await client.raw(query, {"input": {"id": key_id}}, key=key)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["revokeApiKey"]
    return payload


async def test_keys_are_created_once_listed_and_revoked(client: GraphQLClient) -> None:
    created = await create_key(client, "ci")
    key = created["key"]
    assert key.startswith("clr_")
    assert created["apiKey"]["prefix"] == key[:10]
    assert created["apiKey"]["name"] == "ci"
    assert created["apiKey"]["lastUsedAt"] is None

    listed = await keys_of(client)
    assert [k["name"] for k in listed] == ["ci", "default"]  # newest first
    assert listed[0]["lastUsedAt"] is None
    assert listed[1]["lastUsedAt"] is not None  # the default key made these requests
    assert all("key" not in k for k in listed)

    assert (await keys_of(client, key=key))[0]["lastUsedAt"] is not None  # the new key works

    assert await revoke(client, created["apiKey"]["id"]) == {
        "revokedId": created["apiKey"]["id"],
        "userErrors": [],
    }
    refused = await client.raw("{ viewer { name } }", key=key)
    assert refused.status_code == 401
    assert [k["name"] for k in await keys_of(client)] == ["default"]


async def test_a_key_may_revoke_itself_and_is_refused_from_the_next_request(
    client: GraphQLClient,
) -> None:
    other = await create_key(client, "spare")
    (default,) = [k for k in await keys_of(client) if k["name"] == "default"]
    assert (await revoke(client, default["id"]))["userErrors"] == []
    assert (await client.raw("{ viewer { name } }")).status_code == 401
    assert (await client.raw("{ viewer { name } }", key=other["key"])).status_code == 200


async def test_the_last_key_cannot_be_revoked(client: GraphQLClient) -> None:
    (only,) = await keys_of(client)
    before = await client.snapshot()
    assert await revoke(client, only["id"]) == {
        "revokedId": None,
        "userErrors": [
            {
                "field": ["id"],
                "code": "INVALID_STATE",
                "message": "This is the account's last key: create another before revoking it.",
            }
        ],
    }
    assert await client.snapshot() == before
    assert (await client.raw("{ viewer { name } }")).status_code == 200


async def test_another_accounts_key_cannot_be_revoked(new_client: NewClient) -> None:
    mine, theirs = await new_client("Mine"), await new_client("Theirs")
    await create_key(theirs, "spare")
    their_keys = await keys_of(theirs)
    before = (await mine.snapshot(), await theirs.snapshot())
    for key in their_keys:
        assert await revoke(mine, key["id"]) == {
            "revokedId": None,
            "userErrors": [{"field": ["id"], "code": "NOT_FOUND", "message": "API key not found."}],
        }
    assert (await mine.snapshot(), await theirs.snapshot()) == before
    assert [k["id"] for k in await keys_of(mine)] != [k["id"] for k in their_keys]
    node = await mine.gql("query($id: ID!) { node(id: $id) { id } }", {"id": their_keys[0]["id"]})
    assert node == {"node": None}


async def test_the_number_of_keys_is_capped(client: GraphQLClient) -> None:
    for n in range(19):
        await create_key(client, f"k{n}")
    before = await client.snapshot()
    payload = await client.mutate("createApiKey", {"name": "one too many"}, "key")
    assert payload == {
        "key": None,
        "userErrors": [
            {
                "field": None,
                "code": "TOO_MANY",
                "message": "An account may hold at most 20 keys; revoke one first.",
            }
        ],
    }
    assert await client.snapshot() == before


# --- WebSockets ------------------------------------------------------------------------


def ws_url(client: GraphQLClient) -> str:
    return client.server.url.replace("http://", "ws://") + "/graphql"


@contextlib.asynccontextmanager
async def socket(client: GraphQLClient, key: str) -> AsyncIterator[ClientConnection]:
    """A WebSocket as it is after `connection_init` (acknowledged or closed)."""
    async with connect(ws_url(client), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
        await ws.send(json.dumps(init))
        yield ws


async def acknowledged(ws: ClientConnection) -> bool:
    try:
        return bool(json.loads(await ws.recv()) == {"type": "connection_ack"})
    except ConnectionClosed:
        return False


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """Waits (at most 20 s: a hang fails the test, it is no timing target) for the close."""
    async with asyncio.timeout(20):
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def drain(ws: ClientConnection) -> None:
    """Reads until the socket closes (ConnectionClosed)."""
    while True:
        await ws.recv()


async def still_open(ws: ClientConnection) -> bool:
    await ws.send(json.dumps({"type": "ping"}))
    return bool(json.loads(await ws.recv()) == {"type": "pong"})


async def test_revoking_a_key_closes_the_websockets_it_opened(client: GraphQLClient) -> None:
    doomed = await create_key(client, "dashboard")
    async with (
        socket(client, doomed["key"]) as revoked_ws,
        socket(client, client.key) as kept_ws,
    ):
        assert await acknowledged(revoked_ws)
        assert await acknowledged(kept_ws)
        subscribe = {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": "subscription { campaignUpdates { status } }"},
        }
        await revoked_ws.send(json.dumps(subscribe))

        assert (await revoke(client, doomed["apiKey"]["id"]))["userErrors"] == []

        assert await closed_with(revoked_ws) == (4401, "API key revoked")
        assert await still_open(kept_ws)
    async with socket(client, doomed["key"]) as again:
        assert await closed_with(again) == (4403, "Forbidden")


async def test_an_account_may_open_only_so_many_websockets(new_client: NewClient) -> None:
    client, other = await new_client(), await new_client("Other")
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(socket(client, client.key))
            for _ in range(MAX_PER_ACCOUNT)
        ]
        assert all([await acknowledged(ws) for ws in sockets])
        async with socket(client, client.key) as over:
            assert await closed_with(over) == (
                4429,
                f"Too many open WebSockets for this account (at most {MAX_PER_ACCOUNT}).",
            )
        async with socket(other, other.key) as others:  # other accounts are not affected
            assert await acknowledged(others)
        await sockets.pop().close()
        # The closed one frees its place once the server has seen it go.
        for _ in range(100):
            async with socket(client, client.key) as replacement:
                if await acknowledged(replacement):
                    assert await still_open(replacement)
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the place of a closed socket was never freed")
        assert all([await still_open(ws) for ws in sockets])
