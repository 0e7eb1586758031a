"""Twilio channels through the HTTP API: create, update, delete, read; the auth token
write-only and encrypted; every hostile value refused with nothing changed; isolation."""

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select, text

from db import models
from db.engine import connect
from db.enums import TwilioChannelType
from db.migrate import upgrade
from db.secrets import SECRET_KEY_VAR, Keyring, load_keyring
from db.settings import Settings
from graph.app import create_app
from graph.ids import decode_as
from tests.support import GraphQLClient, NewClient

CHANNEL = (
    "id code channelType status accountSid hasAuthToken fromNumber messagingServiceSid "
    "rateLimit dailyQuota apiBaseUrl statusCallbackUrl inboundUrl"
)
SID = "AC" + "0123456789abcdef" * 2
SERVICE = "MG" + "fedcba9876543210" * 2
TOKEN = "5eC12e7t0k3n5eC12e7t0k3n5eC12e7x"


def errors_of(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    assert all(e["message"] for e in payload["userErrors"]), payload["userErrors"]
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


def valid(**fields: Any) -> dict[str, Any]:
    return {
        "code": "wa",
        "channelType": "WHATSAPP",
        "accountSid": SID,
        "authToken": TOKEN,
        "fromNumber": "+14155550100",
        **fields,
    }


async def create(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
    payload = await client.mutate(
        "createTwilioChannel", valid(**fields), f"twilioChannel {{ {CHANNEL} }}"
    )
    assert payload["userErrors"] == []
    channel: dict[str, Any] = payload["twilioChannel"]
    return channel


async def raw_token(client: GraphQLClient, code: str) -> str:
    async with client.server.db.read() as session:
        stored = await session.scalar(
            text("SELECT auth_token FROM twilio_channels WHERE account_id = :a AND code = :c"),
            {"a": client.account_id, "c": code},
        )
    assert isinstance(stored, str)
    return stored


def reveal(client: GraphQLClient, stored: str) -> str:
    """Decrypts with the server's key (CLARION_SECRET_KEY or its data dir's key file)."""
    settings = client.server.settings
    return load_keyring(settings.secret_keys, settings.data_dir).reveal(stored)


async def test_create_whatsapp_channel_defaults(client: GraphQLClient) -> None:
    channel = await create(client, code=" Main-WA_1 ", fromNumber="+1 (415) 555-0100")
    pk = decode_as(channel.pop("id"), "TwilioChannel")
    public = client.server.settings.public_url
    assert channel == {
        "code": "main-wa_1",
        "channelType": "WHATSAPP",
        "status": "ACTIVE",
        "accountSid": SID,
        "hasAuthToken": True,
        "fromNumber": "+14155550100",
        "messagingServiceSid": None,
        "rateLimit": 10,
        "dailyQuota": 250,
        "apiBaseUrl": "https://api.twilio.com",
        "statusCallbackUrl": f"{public}/hooks/twilio/status?channel={pk}",
        "inboundUrl": f"{public}/hooks/twilio/inbound?channel={pk}",
    }


async def test_create_sms_channel_with_a_messaging_service(client: GraphQLClient) -> None:
    channel = await create(
        client,
        code="sms",
        channelType="SMS",
        fromNumber=None,
        messagingServiceSid=SERVICE,
        apiBaseUrl="http://127.0.0.1:8123/api/laml/",
        status="PENDING",
    )
    assert {k: channel[k] for k in ("channelType", "fromNumber", "messagingServiceSid")} == {
        "channelType": "SMS",
        "fromNumber": None,
        "messagingServiceSid": SERVICE,
    }
    assert (channel["rateLimit"], channel["dailyQuota"]) == (1, 1000)
    assert channel["apiBaseUrl"] == "http://127.0.0.1:8123/api/laml"
    assert channel["status"] == "PENDING"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("http://LOCALHOST:8080", "http://localhost:8080"),
        ("http://127.0.0.2", "http://127.0.0.2"),
        ("HTTPS://Space.SignalWire.example/api/laml", "https://space.signalwire.example/api/laml"),
    ],
)
async def test_api_base_urls_are_normalised(client: GraphQLClient, given: str, stored: str) -> None:
    assert (await create(client, apiBaseUrl=given))["apiBaseUrl"] == stored


async def test_every_field_at_its_limits(client: GraphQLClient) -> None:
    channel = await create(
        client,
        code="C" * 50,
        rateLimit=None,
        dailyQuota=100_000_000,
        authToken="~" * 255,
        apiBaseUrl="https://" + "a" * 63 + "." + "b" * 63 + ".example.test:8443/" + "p" * 101,
    )
    assert (channel["code"], channel["rateLimit"], channel["dailyQuota"]) == (
        "c" * 50,
        None,
        100_000_000,
    )
    assert len(channel["apiBaseUrl"]) == 255
    other = await create(client, code="x", rateLimit=10_000, dailyQuota=1)
    assert (other["rateLimit"], other["dailyQuota"]) == (10_000, 1)


async def test_the_token_is_write_only_and_stored_encrypted(client: GraphQLClient) -> None:
    response = await client.raw(
        "mutation($input: CreateTwilioChannelInput!) { createTwilioChannel(input: $input) "
        f"{{ twilioChannel {{ {CHANNEL} }} userErrors {{ code }} }} }}",
        {"input": valid()},
    )
    assert response.status_code == 200
    assert TOKEN not in response.text
    channel = response.json()["data"]["createTwilioChannel"]["twilioChannel"]
    response = await client.raw("{ twilioChannels { edges { node { authToken } } } }")
    assert response.json()["errors"][0]["message"].startswith(
        "Cannot query field 'authToken' on type 'TwilioChannel'."
    )

    stored = await raw_token(client, "wa")
    assert stored.startswith("fernet:")
    assert TOKEN not in stored
    assert reveal(client, stored) == TOKEN

    # Other changes keep the token; a new one replaces it (encrypted too).
    select = "twilioChannel { hasAuthToken dailyQuota }"
    payload = await client.mutate(
        "updateTwilioChannel", {"id": channel["id"], "dailyQuota": 2000}, select
    )
    assert payload == {
        "twilioChannel": {"hasAuthToken": True, "dailyQuota": 2000},
        "userErrors": [],
    }
    assert await raw_token(client, "wa") == stored
    payload = await client.mutate(
        "updateTwilioChannel", {"id": channel["id"], "authToken": "f" * 32}, select
    )
    assert payload["userErrors"] == []
    changed = await raw_token(client, "wa")
    assert changed.startswith("fernet:")
    assert "f" * 32 not in changed
    assert reveal(client, changed) == "f" * 32


async def test_update_switches_sender_and_clears_the_rate_limit(client: GraphQLClient) -> None:
    channel = await create(client)
    select = "twilioChannel { fromNumber messagingServiceSid rateLimit code channelType }"
    payload = await client.mutate(
        "updateTwilioChannel",
        {
            "id": channel["id"],
            "fromNumber": None,
            "messagingServiceSid": SERVICE,
            "rateLimit": None,
            "code": "WA2",
            "channelType": "SMS",
        },
        select,
    )
    assert payload == {
        "twilioChannel": {
            "fromNumber": None,
            "messagingServiceSid": SERVICE,
            "rateLimit": None,
            "code": "wa2",
            "channelType": "SMS",
        },
        "userErrors": [],
    }
    data = await client.gql(
        "query($id: ID!) { twilioChannel(id: $id) { code rateLimit } "
        "node(id: $id) { ... on TwilioChannel { code } } }",
        {"id": channel["id"]},
    )
    assert data == {"twilioChannel": {"code": "wa2", "rateLimit": None}, "node": {"code": "wa2"}}


async def test_list_pages_newest_first_and_delete(client: GraphQLClient) -> None:
    ids = [(await create(client, code=f"c{n}"))["id"] for n in range(3)]
    data = await client.gql(
        "{ twilioChannels(first: 2) { edges { node { code } } pageInfo { hasNextPage } } }"
    )
    assert [e["node"]["code"] for e in data["twilioChannels"]["edges"]] == ["c2", "c1"]
    assert data["twilioChannels"]["pageInfo"]["hasNextPage"] is True
    payload = await client.mutate("deleteTwilioChannel", {"id": ids[1]}, "deletedId")
    assert payload == {"deletedId": ids[1], "userErrors": []}
    data = await client.gql("{ twilioChannels { edges { node { code } } } }")
    assert [e["node"]["code"] for e in data["twilioChannels"]["edges"]] == ["c2", "c0"]
    payload = await client.mutate("deleteTwilioChannel", {"id": ids[1]}, "deletedId")
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]


HOSTILE: list[tuple[dict[str, Any], list[tuple[list[str], str]]]] = [
    ({"code": "bad code"}, [(["code"], "INVALID")]),
    ({"code": "c\x1b"}, [(["code"], "INVALID")]),
    ({"code": ""}, [(["code"], "REQUIRED")]),
    ({"code": "c" * 51}, [(["code"], "TOO_LONG")]),
    ({"channelType": "EMAIL"}, [(["channelType"], "INVALID")]),
    ({"accountSid": ""}, [(["accountSid"], "REQUIRED")]),
    ({"accountSid": SID.upper()}, [(["accountSid"], "INVALID")]),
    ({"accountSid": SID + "\n"}, [(["accountSid"], "TOO_LONG")]),
    ({"accountSid": SID[:-1] + "\n"}, [(["accountSid"], "INVALID")]),
    ({"accountSid": "AC" + "g" * 32}, [(["accountSid"], "INVALID")]),
    ({"accountSid": SERVICE}, [(["accountSid"], "INVALID")]),
    ({"authToken": ""}, [(["authToken"], "REQUIRED")]),
    ({"authToken": "a b"}, [(["authToken"], "INVALID")]),
    ({"authToken": "tok\r\nX-Evil: 1"}, [(["authToken"], "INVALID")]),
    ({"authToken": "tök"}, [(["authToken"], "INVALID")]),
    ({"authToken": "t" * 256}, [(["authToken"], "TOO_LONG")]),
    ({"fromNumber": "whatsapp:+14155550100"}, [(["fromNumber"], "INVALID")]),
    ({"fromNumber": "14155550100"}, [(["fromNumber"], "INVALID")]),
    ({"fromNumber": "+1 800 FLOWERS"}, [(["fromNumber"], "INVALID")]),
    ({"fromNumber": "+123"}, [(["fromNumber"], "INVALID")]),
    ({"fromNumber": "+14155550100\n"}, [(["fromNumber"], "INVALID")]),
    ({"fromNumber": "+1" + "5" * 31}, [(["fromNumber"], "TOO_LONG")]),
    ({"fromNumber": ""}, [(["fromNumber"], "REQUIRED")]),
    ({"fromNumber": None}, [(["fromNumber"], "REQUIRED")]),
    ({"messagingServiceSid": SERVICE}, [(["messagingServiceSid"], "INVALID")]),
    ({"fromNumber": None, "messagingServiceSid": SID}, [(["messagingServiceSid"], "INVALID")]),
    ({"rateLimit": 0}, [(["rateLimit"], "OUT_OF_RANGE")]),
    ({"rateLimit": 10_001}, [(["rateLimit"], "OUT_OF_RANGE")]),
    ({"dailyQuota": 0}, [(["dailyQuota"], "OUT_OF_RANGE")]),
    ({"dailyQuota": 100_000_001}, [(["dailyQuota"], "OUT_OF_RANGE")]),
    ({"apiBaseUrl": ""}, [(["apiBaseUrl"], "REQUIRED")]),
    ({"apiBaseUrl": "http://api.example.test"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "http://10.0.0.1:80"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "http://api.localhost"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://[fe80::1%25eth0]"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "ftp://127.0.0.1"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "//api.example.test"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "api.example.test"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://u:p@api.example.test"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://api.example.test/?x=1"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://api.example.test/#f"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://api.example.test/a b"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://api.example.test\n"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://api.example.test/%2e%2e"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://api.example.test:99999"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://under_score.test"}, [(["apiBaseUrl"], "INVALID")]),
    ({"apiBaseUrl": "https://" + "a" * 250 + ".test"}, [(["apiBaseUrl"], "TOO_LONG")]),
    (
        {"code": "", "rateLimit": 0, "apiBaseUrl": "x"},
        [(["code"], "REQUIRED"), (["rateLimit"], "OUT_OF_RANGE"), (["apiBaseUrl"], "INVALID")],
    ),
]


@pytest.mark.parametrize(("fields", "expected"), HOSTILE)
async def test_create_refuses_hostile_values(
    client: GraphQLClient, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    before = await client.snapshot()
    payload = await client.mutate("createTwilioChannel", valid(**fields), "twilioChannel { id }")
    assert payload["twilioChannel"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


@pytest.mark.parametrize(("fields", "expected"), HOSTILE)
async def test_update_refuses_hostile_values(
    client: GraphQLClient, fields: dict[str, Any], expected: list[tuple[list[str], str]]
) -> None:
    channel = await create(client, code="keep")
    before = await client.snapshot()
    payload = await client.mutate(
        "updateTwilioChannel", {"id": channel["id"], **fields}, "twilioChannel { id }"
    )
    assert payload["twilioChannel"] is None
    assert errors_of(payload) == expected
    assert await client.snapshot() == before


@pytest.mark.parametrize("code", ["wa", "WA", " Wa "])
async def test_duplicate_codes_are_refused(client: GraphQLClient, code: str) -> None:
    await create(client)
    other = await create(client, code="other")
    before = await client.snapshot()
    payload = await client.mutate("createTwilioChannel", valid(code=code), "twilioChannel { id }")
    assert errors_of(payload) == [(["code"], "DUPLICATE")]
    payload = await client.mutate(
        "updateTwilioChannel", {"id": other["id"], "code": code}, "twilioChannel { id }"
    )
    assert errors_of(payload) == [(["code"], "DUPLICATE")]
    assert await client.snapshot() == before


async def test_another_account_cannot_see_or_touch_it(
    client: GraphQLClient, new_client: NewClient
) -> None:
    channel = await create(client)
    intruder = await new_client("Intruder")
    mine, theirs = await client.snapshot(), await intruder.snapshot()
    data = await intruder.gql(
        "query($id: ID!) { twilioChannel(id: $id) { id } node(id: $id) { id } "
        "twilioChannels { edges { node { id } } } }",
        {"id": channel["id"]},
    )
    assert data == {"twilioChannel": None, "node": None, "twilioChannels": {"edges": []}}
    payload = await intruder.mutate(
        "updateTwilioChannel", {"id": channel["id"], "authToken": "x"}, "twilioChannel { id }"
    )
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    payload = await intruder.mutate("deleteTwilioChannel", {"id": channel["id"]}, "deletedId")
    assert errors_of(payload) == [(["id"], "NOT_FOUND")]
    # The same code is free in another account.
    await create(intruder)
    assert await client.snapshot() == mine
    assert (await intruder.snapshot())["twilio_channels"] != theirs["twilio_channels"]


async def test_tokens_are_sealed_and_rotated_at_start(tmp_path: Path) -> None:
    """A token under an older key, or in clear ("plain:"), is re-encrypted with the first
    key when the server starts, like SMTP passwords (db/secrets.py)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'clarion.db'}"
    await upgrade(url)
    old, new = Fernet.generate_key(), Fernet.generate_key()
    db = connect(url)
    try:
        async with db.write() as session:
            account = (
                await session.execute(
                    insert(models.Account).values(name="A").returning(models.Account.id)
                )
            ).scalar_one()
            for code, stored in (("old", Keyring((old,)).seal(TOKEN)), ("clear", f"plain:{TOKEN}")):
                session.add(
                    models.TwilioChannel(
                        account_id=account,
                        code=code,
                        channel_type=TwilioChannelType.SMS,
                        account_sid=SID,
                        auth_token=stored,
                        from_number="+14155550100",
                        daily_quota=1000,
                    )
                )
    finally:
        await db.dispose()
    settings = Settings.from_env(
        {
            "CLARION_DATA_DIR": str(tmp_path),
            "CLARION_EMBEDDED_WORKER": "false",
            SECRET_KEY_VAR: f"{new.decode()},{old.decode()}",
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass
    db = connect(url)
    try:
        async with db.read() as session:
            tokens = list(
                await session.scalars(
                    select(models.TwilioChannel.auth_token).order_by(models.TwilioChannel.code)
                )
            )
    finally:
        await db.dispose()
    assert len(tokens) == 2
    for stored in tokens:
        assert stored.startswith("fernet:")
        assert Fernet(new).decrypt(stored.removeprefix("fernet:").encode()).decode() == TOKEN
