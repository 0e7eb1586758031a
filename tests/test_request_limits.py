"""Bounded requests: a body over the cap is refused with 413 before it is parsed, whether
it declares its length or streams in chunks; nothing it asked for happens."""

import json
from collections.abc import AsyncIterator

import httpx

from db.settings import DEFAULT_MAX_BODY_BYTES
from tests.support import GraphQLClient

CREATE = "mutation { createContact(input: {email: %s}) { contact { id } userErrors { code } } }"


def body(email: str, size: int) -> bytes:
    """A valid createContact request of exactly `size` bytes (padded inside the query)."""
    query = CREATE % json.dumps(email)
    bare = json.dumps({"query": query}).encode()
    padded = json.dumps({"query": query + " " * (size - len(bare))}).encode()
    assert len(padded) == size
    return padded


async def post(client: GraphQLClient, content: bytes | AsyncIterator[bytes]) -> httpx.Response:
    return await client.http.post(
        "/graphql",
        content=content,
        headers={"Authorization": f"Bearer {client.key}", "Content-Type": "application/json"},
    )


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": f"The request body is larger than {DEFAULT_MAX_BODY_BYTES} bytes.",
                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
            }
        ]
    }


async def test_a_body_at_the_cap_is_served(client: GraphQLClient) -> None:
    response = await post(client, body("at-cap@example.test", DEFAULT_MAX_BODY_BYTES))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["createContact"]["userErrors"] == []


async def test_a_declared_length_over_the_cap_is_refused(client: GraphQLClient) -> None:
    before = await client.snapshot()
    response = await post(client, body("declared@example.test", DEFAULT_MAX_BODY_BYTES + 1))
    assert response.request.headers["content-length"] == str(DEFAULT_MAX_BODY_BYTES + 1)
    assert_refused(response)
    assert await client.snapshot() == before


async def test_a_chunked_body_over_the_cap_is_refused(client: GraphQLClient) -> None:
    before = await client.snapshot()
    data = body("chunked@example.test", DEFAULT_MAX_BODY_BYTES + 1)
    response = await post(client, chunks(data))
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_refused(response)
    assert await client.snapshot() == before
    # A chunked body under the cap is served as usual.
    small = await post(client, chunks(body("small@example.test", 100_000)))
    assert small.status_code == 200
    assert small.json()["data"]["createContact"]["userErrors"] == []
