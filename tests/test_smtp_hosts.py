"""CLARION_SMTP_ALLOWED_HOSTS at createEmailChannel/updateEmailChannel and again in the
worker (for channels saved before the setting changed); SMTP errors without internal
network details; workers log in with the decrypted password."""

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from db.engine import connect
from db.settings import Settings
from db.usecases.accounts import create_account
from tests.sending_stack import (
    SendingStack,
    act,
    campaign_for,
    channel_for,
    email_campaign,
    execution,
    sending_stack,
    stack,
    wait_until,
)
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, Server, free_port, import_contacts, running_server

__all__ = ["stack"]

ALLOWED = "smtp.example.com, *.mail.test, 10.0.0.0/8"
# What a client must never see: errno text, "Errno", resolved addresses with ports.
LEAKS = re.compile(r"errno|\[Errno|Connect call failed|\('[\d.]+', \d+\)|Traceback", re.I)


@contextlib.asynccontextmanager
async def restricted_server(tmp_path: Path) -> AsyncIterator[Server]:
    settings = Settings.from_env(
        {
            "CLARION_DATA_DIR": str(tmp_path),
            "CLARION_PORT": str(free_port()),
            "CLARION_EMBEDDED_WORKER": "false",
            "CLARION_SMTP_ALLOWED_HOSTS": ALLOWED,
        }
    )
    async with running_server(settings):
        db = connect(settings.database_url)
        try:
            yield Server(f"http://127.0.0.1:{settings.port}", db, settings)
        finally:
            await db.dispose()


async def client_of(server: Server) -> GraphQLClient:
    async with server.db.write() as session:
        account, key = await create_account(session, "Acme")
    return GraphQLClient(server, key, account.id)


CHANNEL = {"code": "main", "channelType": "MARKETING", "smtpHost": "smtp.example.com"}


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("smtp.example.com", True),
        ("SMTP.Example.com", True),
        ("relay.mail.test", True),
        ("10.1.2.3", True),
        ("mail.test", False),
        ("example.com", False),
        ("127.0.0.1", False),
        ("localhost", False),
        ("169.254.169.254", False),
        ("smtp.example.com.evil.test", False),
    ],
)
async def test_channels_may_use_only_allowed_hosts(
    tmp_path: Path, host: str, allowed: bool
) -> None:
    async with restricted_server(tmp_path) as server:
        client = await client_of(server)
        try:
            await client.mutate("createEmailChannel", CHANNEL, "emailChannel { id }")
            before = await client.snapshot()
            created = await client.mutate(
                "createEmailChannel",
                {**CHANNEL, "code": "other", "smtpHost": host},
                "emailChannel { id }",
            )
            if allowed:
                assert created["userErrors"] == []
                return
            refusal = [
                {
                    "field": ["smtpHost"],
                    "code": "HOST_NOT_ALLOWED",
                    "message": f"The SMTP host {host!r} is not allowed on this server "
                    "(ask its operator).",
                }
            ]
            assert created == {"emailChannel": None, "userErrors": refusal}
            data = await client.gql("{ emailChannels { edges { node { id } } } }")
            (channel_id,) = [e["node"]["id"] for e in data["emailChannels"]["edges"]]
            updated = await client.mutate(
                "updateEmailChannel",
                {"id": channel_id, "smtpHost": host, "dailyQuota": 5},
                "emailChannel { id }",
            )
            assert updated == {"emailChannel": None, "userErrors": refusal}
            assert await client.snapshot() == before
        finally:
            await client.http.aclose()


async def send_test(client: GraphQLClient, campaign_id: str, email: str) -> dict[str, Any]:
    return await client.mutate(
        "sendTestEmail", {"campaignId": campaign_id, "email": email}, "messageId"
    )


async def test_the_worker_refuses_a_host_saved_before_the_restriction(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    # The API (unrestricted) saved the channel; the operator then restricted the workers.
    async with sending_stack(tmp_path, workers=0) as stack:
        stack.start_worker(CLARION_SMTP_ALLOWED_HOSTS="smtp.example.com")
        client = await stack.client()
        campaign_id = await campaign_for(client, smtp_sink, 3)

        tested = await send_test(client, campaign_id, "a@example.test")
        assert tested == {
            "messageId": None,
            "userErrors": [
                {
                    "field": None,
                    "code": "SEND_FAILED",
                    "message": "The SMTP host '127.0.0.1' is not allowed on this server "
                    "(ask its operator).",
                }
            ],
        }
        await act(client, "startCampaign", campaign_id)
        halted = await wait_until_error(client, campaign_id)
        assert "'127.0.0.1' is not allowed" in halted["execution"]["errorMessage"]
        assert smtp_sink.messages == []


async def wait_until_error(client: GraphQLClient, campaign_id: str) -> dict[str, Any]:
    for _ in range(300):
        campaign = await execution(client, campaign_id)
        if campaign["execution"] and campaign["execution"]["errorMessage"]:
            return campaign
        await asyncio.sleep(0.1)
    raise AssertionError(f"no error recorded: {campaign}")


async def test_smtp_errors_shown_to_clients_hold_no_network_details(
    stack: SendingStack, smtp_sink: SmtpSink
) -> None:
    client = await stack.client()
    closed_port = free_port()  # nothing listens there
    code = await channel_for(client, smtp_sink, code="down", smtpPort=closed_port)
    await import_contacts(client, [{"email": "a@example.test", "tags": ["vip"]}])
    campaign_id = await email_campaign(client, code)

    tested = await send_test(client, campaign_id, "a@example.test")
    assert tested["userErrors"] == [
        {
            "field": None,
            "code": "SEND_FAILED",
            "message": "Could not connect to the channel's SMTP server '127.0.0.1' "
            "(connection refused).",
        }
    ]
    await act(client, "startCampaign", campaign_id)
    halted = await wait_until_error(client, campaign_id)
    message = halted["execution"]["errorMessage"]
    assert "Could not connect to the channel's SMTP server '127.0.0.1'" in message
    assert not LEAKS.search(message), message
    assert str(closed_port) not in message


# --- the worker logs in with the decrypted password ---------------------------------------

PASSWORD = "hunter2-correct-horse"


class _Recorder:
    def __init__(self) -> None:
        self.logins: list[tuple[bytes, bytes]] = []
        self.messages: list[Envelope] = []

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == PASSWORD.encode())

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def auth_server() -> Iterator[tuple[Controller, _Recorder]]:
    recorder = _Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=recorder.authenticate,
        auth_require_tls=False,
        server_hostname="auth.clarion.test",
    )
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


async def test_workers_log_in_with_the_decrypted_password(
    stack: SendingStack, auth_server: tuple[Controller, _Recorder]
) -> None:
    controller, recorder = auth_server
    client = await stack.client()
    listening = type("L", (), {"port": controller.port})()
    code = await channel_for(client, listening, smtpUsername="clarion", smtpPassword=PASSWORD)
    await import_contacts(client, [{"email": "a@example.test", "tags": ["vip"]}])
    campaign_id = await email_campaign(client, code)

    tested = await send_test(client, campaign_id, "a@example.test")

    assert tested["userErrors"] == []
    assert set(recorder.logins) == {(b"clarion", PASSWORD.encode())}
    assert [m.rcpt_tos for m in recorder.messages] == [["a@example.test"]]
    await act(client, "startCampaign", campaign_id)
    await wait_until(client, campaign_id, "COMPLETED")
    assert len(recorder.messages) == 2
