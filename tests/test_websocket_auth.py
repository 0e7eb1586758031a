"""GraphQL over WebSocket (graphql-transport-ws): authenticated in `connection_init`."""

import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support import GraphQLClient

PROTOCOL = "graphql-transport-ws"


def ws_url(client: GraphQLClient) -> str:
    return client.server.url.replace("http://", "ws://") + "/graphql"


async def test_a_valid_key_in_connection_init_runs_operations(client: GraphQLClient) -> None:
    async with connect(ws_url(client), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Token {client.key}"}}
            )
        )
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": "{ viewer { name } }"}}
            )
        )
        message: dict[str, Any] = json.loads(await ws.recv())
        assert message == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"viewer": {"name": "Acme"}}},
        }


@pytest.mark.parametrize(
    "payload", [{}, {"Authorization": "Bearer clr_wrong"}, {"Authorization": 5}]
)
async def test_without_a_valid_key_the_socket_is_closed(
    client: GraphQLClient, payload: dict[str, Any]
) -> None:
    async with connect(ws_url(client), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "Forbidden")


async def test_the_legacy_graphql_ws_protocol_is_not_offered(client: GraphQLClient) -> None:
    async with connect(ws_url(client), subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def test_subscribing_before_connection_init_is_refused(client: GraphQLClient) -> None:
    async with connect(ws_url(client), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "subscription { campaignUpdates { campaignId } }"},
                }
            )
        )
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "Unauthorized")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # not a browser: no ambient credentials to abuse
        ("same", True),  # a page served by Clarion itself (the dashboard)
        ("http://evil.test", False),
        ("null", False),
    ],
)
async def test_browsers_may_connect_only_from_the_servers_origin(
    client: GraphQLClient, origin: str | None, allowed: bool
) -> None:
    headers = {}
    if origin is not None:
        headers["Origin"] = client.server.url if origin == "same" else origin
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {client.key}"}}
    opening = connect(ws_url(client), subprotocols=[PROTOCOL], additional_headers=headers)  # type: ignore[list-item]
    if not allowed:
        with pytest.raises(InvalidStatus) as refused:
            await opening
        assert refused.value.response.status_code == 403
        return
    async with opening as ws:
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
