"""A whole sending stack per test: its own database, its own embedded Redis, the API
(uvicorn, in the test's event loop, without a worker) and `clarion worker` processes,
real and separate, so a test can SIGKILL one.

On SQLite the database is a file of the stack; under CLARION_TEST_DATABASE_URL (PostgreSQL)
the stack creates a database of its own beside that one and drops it afterwards, so no
worker's sweeper ever sees another test's campaigns.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from db.engine import connect
from db.settings import Settings
from db.usecases.accounts import create_account
from jobs.embedded_redis import EmbeddedRedis
from tests.redis_process import RedisProcess
from tests.support import GraphQLClient, Server, free_port, import_contacts, running_server

ROOT = Path(__file__).resolve().parent.parent
SKEWED_CLOCK = Path(__file__).resolve().parent / "skewed_clock"
# Short enough that crash recovery and retries happen within a test.
WORKER_ENV = {
    "CLARION_SEND_LEASE_SECONDS": "6",
    "CLARION_SEND_RETRY_DELAYS": "0.5,0.5",
    "CLARION_SEND_HALT_SECONDS": "2",
}


@dataclass
class SendingStack:
    env: dict[str, str]
    server: Server
    log_dir: Path
    workers: list["subprocess.Popen[bytes]"] = field(default_factory=list)
    # API processes of their own (`start_api`), stopped with the workers.
    apis: list["subprocess.Popen[bytes]"] = field(default_factory=list)
    # The Redis on TCP that a test may kill and restart (redis="tcp").
    redis: RedisProcess | None = None

    def start_worker(self, **extra_env: str) -> "subprocess.Popen[bytes]":
        n = len(self.workers)
        log = open(self.log_dir / f"worker-{n}.log", "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(
            [sys.executable, "-m", "graph.cli", "worker"],
            cwd=ROOT,
            env={**os.environ, **self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.workers.append(process)
        return process

    def start_skewed_worker(self, seconds: float) -> "subprocess.Popen[bytes]":
        """A worker on a host whose clock is `seconds` off (tests/skewed_clock)."""
        return self.start_worker(
            PYTHONPATH=str(SKEWED_CLOCK), CLARION_TEST_CLOCK_SKEW_S=str(seconds)
        )

    def spawn_api(self, name: str = "api") -> tuple["subprocess.Popen[bytes]", str]:
        """A `clarion serve` process without a worker on the stack's database and Redis,
        and its URL (also its CLARION_PUBLIC_URL); logged to `<name>.log`. The stack stops
        it with its workers."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            **self.env,
            "CLARION_PORT": str(port),
            "CLARION_PUBLIC_URL": url,
            "CLARION_EMBEDDED_WORKER": "false",
        }
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(
            [sys.executable, "-m", "graph.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.apis.append(process)
        return process, url

    async def start_api(self, name: str = "api") -> tuple["subprocess.Popen[bytes]", str]:
        """spawn_api's process once it answers HTTP."""
        process, url = await asyncio.to_thread(self.spawn_api, name)
        log_path = self.log_dir / f"{name}.log"
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                assert process.poll() is None, log_path.read_text()
                try:
                    if (await http.get(f"{url}/health")).status_code:  # answering
                        return process, url
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        process.kill()
        raise AssertionError(f"{name} did not start: {log_path.read_text()[-2000:]}")

    def worker_log(self, n: int = 0) -> str:
        return (self.log_dir / f"worker-{n}.log").read_text(errors="replace")

    async def client(self, name: str = "Acme") -> GraphQLClient:
        async with self.server.db.write() as session:
            account, key = await create_account(session, name)
            account.default_from_email = "news@acme.test"
            account.default_from_name = "Acme News"
            account.default_reply_to_email = "help@acme.test"
        return GraphQLClient(self.server, key, account.id)


async def stop_process(process: "subprocess.Popen[bytes]", sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    for _ in range(400):
        if process.poll() is not None:
            break
        await asyncio.sleep(0.05)
    else:
        process.kill()
    return process.wait()


@contextlib.asynccontextmanager
async def own_database(data_dir: Path) -> AsyncIterator[str]:
    base = os.environ.get("CLARION_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite+aiosqlite:///{data_dir / 'clarion.db'}"
        return
    url = make_url(base)
    name = f"{url.database}_send_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


RedisKind = Literal["socket", "tcp", "serve"]


@contextlib.asynccontextmanager
async def stack_redis(data_dir: Path, kind: RedisKind) -> AsyncIterator[RedisProcess | str | None]:
    """The stack's Redis: an embedded one of the test's on a unix socket (its URL), a
    RedisProcess on TCP, or None: the API starts its own (`clarion serve`'s default), unless
    the test gives a CLARION_REDIS_URL of its own."""
    if kind == "serve":
        yield None
    elif kind == "tcp":
        process = RedisProcess(data_dir / "redis")
        await process.start()
        try:
            yield process
        finally:
            await process.stop()
    else:
        embedded = EmbeddedRedis(data_dir / "redis")
        embedded.spawn()
        try:
            await asyncio.to_thread(embedded.wait_ready)
            yield embedded.url
        finally:
            await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def sending_stack(
    data_dir: Path,
    workers: int = 1,
    *,
    embedded_worker: bool = False,
    redis: RedisKind = "socket",
    **extra_env: str,
) -> AsyncIterator[SendingStack]:
    """The stack with `workers` worker processes, and a worker inside the API process too
    if `embedded_worker` (as `clarion serve` runs by default); see `stack_redis`."""
    async with own_database(data_dir) as database_url, stack_redis(data_dir, redis) as made:
        port = free_port()
        env = {
            "CLARION_DATA_DIR": str(data_dir),
            "CLARION_DATABASE_URL": database_url,
            "CLARION_PORT": str(port),
            "CLARION_EMBEDDED_WORKER": str(embedded_worker).lower(),
            **WORKER_ENV,
            **extra_env,
        }
        if made is not None:
            env["CLARION_REDIS_URL"] = made if isinstance(made, str) else made.url
        settings = Settings.from_env(env)
        async with running_server(settings):
            db = connect(database_url)
            stack = SendingStack(env, Server(f"http://127.0.0.1:{port}", db, settings), data_dir)
            stack.redis = made if isinstance(made, RedisProcess) else None
            try:
                for _ in range(workers):
                    stack.start_worker()
                yield stack
            finally:
                await asyncio.gather(*(stop_process(p) for p in [*stack.workers, *stack.apis]))
                await db.dispose()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SendingStack]:
    async with sending_stack(tmp_path) as made:
        yield made


# --- builders ------------------------------------------------------------------------------


class Listening(Protocol):
    """An SMTP server on 127.0.0.1 (SmtpSink, or SinkProcess for benchmarks)."""

    @property
    def port(self) -> int: ...


async def channel_for(client: GraphQLClient, sink: Listening, **overrides: Any) -> str:
    """A channel that sends to `sink`, with no rate limit and a quota no test reaches unless
    told; returns its code."""
    input = {
        "code": "main",
        "channelType": "MARKETING",
        "smtpHost": "127.0.0.1",
        "smtpPort": sink.port,
        "smtpSecurity": "NONE",
        "rateLimit": None,
        "dailyQuota": 1_000_000,
        **overrides,
    }
    payload = await client.mutate("createEmailChannel", input, "emailChannel { code }")
    assert payload["userErrors"] == [], payload
    code: str = payload["emailChannel"]["code"]
    return code


def audience(n: int, tag: str = "vip") -> list[dict[str, Any]]:
    return [
        {"email": f"c{i:06d}@example.test", "firstName": f"Name{i}", "tags": [tag]}
        for i in range(n)
    ]


async def campaign_for(
    client: GraphQLClient, sink: Listening, contacts: int, **overrides: Any
) -> str:
    """A channel to `sink`, `contacts` contacts tagged vip and a draft campaign; its id."""
    channel_fields = overrides.pop("channel", {})
    code = await channel_for(client, sink, **channel_fields)
    rows = audience(contacts)
    for start in range(0, contacts, 10_000):
        await import_contacts(client, rows[start : start + 10_000])
    return await email_campaign(client, code, **overrides)


async def email_campaign(client: GraphQLClient, channel_code: str, **overrides: Any) -> str:
    """A draft campaign to the contacts tagged vip through the channel, with a template that
    uses contact fields, a link and the unsubscribe link; its id."""
    input = {
        "campaignName": "Spring sale",
        "emailChannel": channel_code,
        "contactTags": ["vip"],
        "subject": "Hello {{ first_name }}",
        "bodyHtml": '<p>Hi {{ first_name }}</p><a href="https://shop.test/sale?x=1">Sale</a>'
        '<a href="{{ unsubscribe_link }}">Unsubscribe</a>',
        "bodyText": "Hi {{ first_name }}, see https://shop.test/sale",
        "utmCode": "spring",
        **overrides,
    }
    payload = await client.mutate("createEmailCampaign", input, "campaign { id }")
    assert payload["userErrors"] == [], payload
    campaign_id: str = payload["campaign"]["id"]
    return campaign_id


FINAL_STATUSES = ("COMPLETED", "PARTIALLY_COMPLETED", "FAILED", "CANCELLED")
EXECUTION_FIELDS = """
    status startedAt completedAt expectedCompletionAt pausedAt resumedAt cancelledAt
    lastRunAt nextRunAt totalContacts totalSent totalFailed errorMessage
"""


async def execution(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    data = await client.gql(
        f"query($id: ID!) {{ campaign(id: $id) {{ status execution {{ {EXECUTION_FIELDS} }} }} }}",
        {"id": campaign_id},
    )
    campaign: dict[str, Any] = data["campaign"]
    return campaign


async def act(client: GraphQLClient, action: str, campaign_id: str) -> dict[str, Any]:
    payload = await client.mutate(action, {"id": campaign_id}, "campaign { status }")
    assert payload["userErrors"] == [], payload
    return payload


async def wait_until(
    client: GraphQLClient, campaign_id: str, *statuses: str, within: float = 60
) -> dict[str, Any]:
    """Polls until the execution's status is one of `statuses`; returns the campaign.

    Read once more after that: the campaign and its execution load in separate sessions,
    so one read can catch the campaign just before the write that ended both.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        campaign = await execution(client, campaign_id)
        if campaign["execution"] and campaign["execution"]["status"] in statuses:
            return await execution(client, campaign_id)
        if loop.time() > give_up:
            raise AssertionError(f"execution never reached {statuses}: {campaign}")
        await asyncio.sleep(0.1)
