"""Shared fixtures: a live Clarion server (uvicorn, real HTTP) on SQLite + embedded Redis.

Tests isolate themselves by creating their own accounts, so one server serves the session.
Set CLARION_TEST_DATABASE_URL (e.g. postgresql+asyncpg://...) to run against PostgreSQL.
"""

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from db import models
from db.engine import Database, connect
from db.settings import Settings
from db.usecases.accounts import create_account
from graph.app import WS_COMPRESSION, create_app
from graph.ids import decode_as

# Columns that change by merely using the API (a key's last use), left out of snapshots.
VOLATILE_COLUMNS = frozenset({"last_used_at"})
# Tables whose rows belong to an account, for "nothing changed" snapshots.
OWNED_TABLES: list[type[Any]] = [
    models.Account,
    models.ApiKey,
    models.Contact,
    models.ContactTag,
    models.Audience,
    models.EmailChannel,
    models.EmailTemplate,
    models.TwilioChannel,
    models.Campaign,
    models.Delivery,
    models.LtvEntry,
    models.ConsentChange,
]


def stable_secret_key(database_url: str) -> str:
    """A secret key for a test database that outlives the session's data dir (and its
    generated key file), the same in every session: made from the database's URL."""
    return base64.urlsafe_b64encode(hashlib.sha256(database_url.encode()).digest()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[None]:
    """Clarion under uvicorn on `settings.port`, in this event loop, until the block ends."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        ws_per_message_deflate=WS_COMPRESSION,
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    try:
        while not uv.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield
    finally:
        uv.should_exit = True
        await task


@dataclass
class Server:
    url: str
    db: Database
    settings: Settings


@pytest.fixture(scope="session")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("clarion")
    env = {
        "CLARION_DATA_DIR": str(data_dir),
        "CLARION_PORT": str(free_port()),
        # No worker: these tests check the state actions leave; sending has its own stack
        # (tests/sending_stack.py).
        "CLARION_EMBEDDED_WORKER": "false",
    }
    if os.environ.get("CLARION_TEST_DATABASE_URL"):
        env["CLARION_DATABASE_URL"] = os.environ["CLARION_TEST_DATABASE_URL"]
        # That database outlives this session's data dir (and its generated key file).
        env["CLARION_SECRET_KEY"] = stable_secret_key(env["CLARION_DATABASE_URL"])
    if os.environ.get("CLARION_TEST_REDIS_URL"):
        env["CLARION_REDIS_URL"] = os.environ["CLARION_TEST_REDIS_URL"]
    settings = Settings.from_env(env)
    async with running_server(settings):
        db = connect(settings.database_url)
        try:
            yield Server(url=f"http://127.0.0.1:{settings.port}", db=db, settings=settings)
        finally:
            await db.dispose()


class GraphQLClient:
    """One account's view of the API over real HTTP."""

    def __init__(self, server: Server, key: str, account_id: int) -> None:
        self.server = server
        self.key = key
        self.account_id = account_id
        self.http = httpx.AsyncClient(base_url=server.url, timeout=60)

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, key: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key if key is None else key}"}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """`data` of a request that must succeed without top-level errors."""
        response = await self.raw(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def mutate(self, name: str, input: dict[str, Any], selection: str) -> dict[str, Any]:
        """Runs `name(input: $input) { <selection> userErrors { field message code } }`."""
        input_type = name[0].upper() + name[1:] + "Input"
        query = (
            f"mutation($input: {input_type}!) {{ {name}(input: $input) "
            f"{{ {selection} userErrors {{ field message code }} }} }}"
        )
        payload: dict[str, Any] = (await self.gql(query, {"input": input}))[name]
        return payload

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row this account owns, for asserting that a refused mutation changed nothing."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        async with self.server.db.read() as session:
            for model in OWNED_TABLES:
                column = model.id if model is models.Account else model.account_id
                columns = [c for c in model.__table__.columns if c.name not in VOLATILE_COLUMNS]
                rows = await session.execute(select(*columns).where(column == self.account_id))
                out[model.__tablename__] = sorted(tuple(r) for r in rows)
            executions = await session.execute(
                select(*models.CampaignExecution.__table__.columns)
                .join(models.Campaign)
                .where(models.Campaign.account_id == self.account_id)
            )
            out["campaign_executions"] = sorted(tuple(r) for r in executions)
        return out


# The `new_client` fixture's type: makes a client for a new account.
NewClient = Callable[..., Awaitable["GraphQLClient"]]


@pytest.fixture
async def new_client(server: Server) -> AsyncIterator[Any]:
    """Makes clients, each for a brand-new account (with sender defaults unless told not to)."""
    made: list[GraphQLClient] = []

    async def make(name: str = "Acme", with_defaults: bool = True) -> GraphQLClient:
        async with server.db.write() as session:
            account, key = await create_account(session, name)
            if with_defaults:
                account.default_from_email = "news@acme.test"
                account.default_reply_to_email = "help@acme.test"
        client = GraphQLClient(server, key, account.id)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.http.aclose()


@pytest.fixture
async def client(new_client: Any) -> GraphQLClient:
    made: GraphQLClient = await new_client()
    return made


def pk_of(global_id: str, type_name: str) -> int:
    ident = decode_as(global_id, type_name)
    assert ident is not None, global_id
    return ident


# Small builders used across test modules.
async def make_channel(client: GraphQLClient, **overrides: Any) -> dict[str, Any]:
    input = {"code": "main", "channelType": "MARKETING", "smtpHost": "127.0.0.1", **overrides}
    payload = await client.mutate("createEmailChannel", input, "emailChannel { id code }")
    assert payload["userErrors"] == []
    channel: dict[str, Any] = payload["emailChannel"]
    return channel


async def import_contacts(client: GraphQLClient, rows: list[dict[str, Any]]) -> None:
    payload = await client.mutate("importContacts", {"contacts": rows}, "createdCount")
    assert payload["userErrors"] == []


async def make_email_campaign(client: GraphQLClient, **overrides: Any) -> dict[str, Any]:
    input = {
        "campaignName": "Spring sale",
        "emailChannel": "main",
        "contactTags": ["vip"],
        "subject": "Hello {{ first_name }}",
        "bodyHtml": "<p>Hi {{ first_name }}</p>",
        **overrides,
    }
    payload = await client.mutate(
        "createEmailCampaign", input, "campaign { id status audience { id code } }"
    )
    assert payload["userErrors"] == [], payload["userErrors"]
    campaign: dict[str, Any] = payload["campaign"]
    return campaign
