"""Our HTTP client for the twilio package, against a real recording server on loopback:
Twilio's hosts rewritten to the channel's base URL, other hosts refused with nothing sent,
JSON bodies as JSON, form bodies form-encoded, Basic auth, the time budget; and the twilio
Client built by `twilio_client` creating a message and a Content resource."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.rest.content.v1.content import ContentList

from jobs.channels.twilio import http as twilio_http
from jobs.channels.twilio.client import Credentials, TwilioClients, twilio_client
from jobs.channels.twilio.errors import Kind, classify
from jobs.channels.twilio.http import ChannelHttpClient, DeadlineExceeded, ForeignHost
from tests.support import free_port

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "5eC12e7t0k3n5eC12e7t0k3n5eC12e7x"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
INVALID_TO = "+15005550001"
BASIC = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    url: str
    seen: list[Seen] = field(default_factory=list)


def message_json(form: dict[str, str]) -> dict[str, Any]:
    return {
        "sid": "SM" + "1" * 32,
        "account_sid": SID,
        "to": form.get("To"),
        "from": form.get("From"),
        "body": form.get("Body"),
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": "Sun, 29 Nov 2026 03:30:00 +0000",
        "date_updated": "Sun, 29 Nov 2026 03:30:00 +0000",
        "date_sent": None,
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{SID}/Messages/SM{'1' * 32}.json",
    }


def app(seen: list[Seen]) -> Starlette:
    async def any_path(request: Request) -> Response:
        body = await request.body()
        seen.append(
            Seen(
                request.method,
                request.url.path,
                request.url.query,
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        path = request.url.path
        if path.endswith("/slow"):
            await asyncio.sleep(1)
        if path.endswith("/big"):
            return Response(b"x" * 5000)
        if path.endswith("/latin"):  # a charset Python does not know reads as UTF-8
            return Response("é".encode(), headers={"content-type": "text/plain; charset=x-nope"})
        form = dict(parse_qsl(body.decode())) if path.endswith("/Messages.json") else {}
        if form.get("To") == INVALID_TO:
            return JSONResponse(
                {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400},
                status_code=400,
            )
        if path.endswith("/Messages.json") and request.method == "POST":
            return JSONResponse(message_json(form), status_code=201)
        if path == "/v1/Content":
            return JSONResponse({"sid": "HX" + "2" * 32, **json.loads(body)}, status_code=201)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/{path:path}", any_path, methods=["GET", "POST", "DELETE"])])


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    seen: list[Seen] = []
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app(seen), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done()
        await asyncio.sleep(0.01)
    try:
        yield Recorder(f"http://127.0.0.1:{port}", seen)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def http(recorder: Recorder) -> AsyncIterator[ChannelHttpClient]:
    client = ChannelHttpClient(recorder.url + "/prefix/")
    yield client
    await client.aclose()


@pytest.mark.parametrize("host", ["api.twilio.com", "content.twilio.com", "messaging.twilio.com"])
async def test_twilio_hosts_go_to_the_base_url_with_path_and_query(
    recorder: Recorder, http: ChannelHttpClient, host: str
) -> None:
    response = await http.request(
        "GET",
        f"https://{host}/2010-04-01/Accounts/{SID}/Messages.json?PageSize=2&PageToken=PA%2Fx",
        params={"To": "whatsapp:+14155550100", "DateSent>": "2026-11-29", "Skip": None},
        auth=(SID, TOKEN),
    )
    assert (response.status_code, json.loads(response.text)) == (200, {"ok": True})
    (seen,) = recorder.seen
    assert (seen.method, seen.path) == ("GET", f"/prefix{MESSAGES}")
    assert parse_qsl(seen.query) == [
        ("PageSize", "2"),
        ("PageToken", "PA/x"),
        ("To", "whatsapp:+14155550100"),
        ("DateSent>", "2026-11-29"),
    ]
    assert seen.headers["authorization"] == BASIC
    assert seen.body == b""


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test/2010-04-01/Accounts",
        "http://api.twilio.com/2010-04-01/Accounts",
        "https://api.twilio.com:8443/2010-04-01",
        "https://user:pw@api.twilio.com/2010-04-01",
        "https://api.twilio.com.evil.test/2010-04-01",
        "https://api.us1.twilio.com/2010-04-01",
        "https://api.twilio.com:bad/x",
        "/2010-04-01/Accounts",
    ],
)
async def test_other_hosts_are_refused_and_nothing_is_sent(
    recorder: Recorder, http: ChannelHttpClient, url: str
) -> None:
    with pytest.raises(ForeignHost):
        await http.request("POST", url, data={"To": "+14155550100"}, auth=(SID, TOKEN))
    assert recorder.seen == []
    assert classify(ForeignHost("x")).kind is Kind.HALT


async def test_json_bodies_are_sent_as_json(recorder: Recorder, http: ChannelHttpClient) -> None:
    data = {"friendly_name": "promo", "types": {"twilio/text": {"body": "Hi {{1}}"}}}
    await http.request(
        "POST",
        "https://content.twilio.com/v1/Content",
        data=data,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        auth=(SID, TOKEN),
    )
    (seen,) = recorder.seen
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == data


async def test_form_bodies_are_form_encoded(recorder: Recorder, http: ChannelHttpClient) -> None:
    await http.request(
        "POST",
        f"https://api.twilio.com{MESSAGES}",
        data={"To": "+14155550100", "MediaUrl": ["https://a.test/1", "https://a.test/2"]},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(SID, TOKEN),
    )
    (seen,) = recorder.seen
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(seen.body.decode()) == [
        ("To", "+14155550100"),
        ("MediaUrl", "https://a.test/1"),
        ("MediaUrl", "https://a.test/2"),
    ]
    assert seen.headers["authorization"] == BASIC


async def test_a_slow_answer_times_out_as_unknown(recorder: Recorder) -> None:
    http = ChannelHttpClient(recorder.url, timeout_s=0.3)
    try:
        with pytest.raises(DeadlineExceeded) as caught:
            await http.request("POST", "https://api.twilio.com/slow", data={"To": "+1"})
    finally:
        await http.aclose()
    assert len(recorder.seen) == 1  # it was sent
    verdict = classify(caught.value)
    assert verdict.kind is Kind.UNKNOWN
    assert verdict.reason == (
        f"timed out after the request was sent: no complete answer from {recorder.url} within 0.3 s"
    )


async def test_an_oversized_answer_is_refused(
    recorder: Recorder, http: ChannelHttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio_http, "MAX_RESPONSE_BYTES", 4096)
    with pytest.raises(twilio_http.ResponseTooLarge) as caught:
        await http.request("GET", "https://api.twilio.com/big")
    assert classify(caught.value).kind is Kind.UNKNOWN


async def test_a_request_no_connection_is_free_for_sends_nothing(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twilio_http, "MAX_CONNECTIONS", 1)
    monkeypatch.setattr(twilio_http, "CONNECT_TIMEOUT_S", 0.2)
    http = ChannelHttpClient(recorder.url)
    try:
        slow = asyncio.create_task(http.request("POST", "https://api.twilio.com/slow"))
        await asyncio.sleep(0.2)  # the slow request holds the one connection (1 s)
        assert [seen.path for seen in recorder.seen] == ["/slow"]
        with pytest.raises(twilio_http.NoConnectionFree) as caught:
            await http.request("POST", f"https://api.twilio.com{MESSAGES}", data={"To": "+1"})
        assert [seen.path for seen in recorder.seen] == ["/slow"]
        assert (await slow).status_code == 200
    finally:
        await http.aclose()
    assert classify(caught.value).kind is Kind.RETRY


async def test_answers_are_asked_for_unencoded_and_read_in_their_charset(
    recorder: Recorder, http: ChannelHttpClient
) -> None:
    response = await http.request("GET", "https://api.twilio.com/latin")
    assert response.text == "é"
    assert recorder.seen[0].headers["accept-encoding"] == "identity"


async def test_an_unreachable_api_halts_with_nothing_sent() -> None:
    http = ChannelHttpClient(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await http.request("POST", f"https://api.twilio.com{MESSAGES}", data={"To": "+1"})
    finally:
        await http.aclose()
    verdict = classify(caught.value)
    assert (verdict.kind, verdict.reason) == (
        Kind.HALT,
        "Could not connect to the channel's API (connection refused).",
    )


async def test_a_closed_client_sends_nothing(recorder: Recorder) -> None:
    http = ChannelHttpClient(recorder.url)
    await http.aclose()
    with pytest.raises(twilio_http.ClientClosed) as caught:
        await http.request("POST", f"https://api.twilio.com{MESSAGES}", data={"To": "+1"})
    assert recorder.seen == []
    assert classify(caught.value).kind is Kind.RETRY


async def test_the_twilio_client_creates_a_message_at_the_base_url(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Region and edge from the environment would rewrite the host; they are not read.
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-this-one")
    client, http = twilio_client(SID, TOKEN, recorder.url)
    try:
        message = await client.messages.create_async(
            to="whatsapp:+14155550100",
            from_="whatsapp:+14155238886",
            content_sid="HX" + "3" * 32,
            content_variables=json.dumps({"1": "Ann"}),
            status_callback="https://clarion.test/hooks/twilio/status",
        )
        content = await client.content.v1.contents.create_async(
            ContentList.ContentCreateRequest(
                {
                    "friendly_name": "promo",
                    "language": "en",
                    "variables": {"1": "Ann"},
                    "types": {"twilio/text": {"body": "Hi {{1}}"}},
                }
            )
        )
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=INVALID_TO, from_="+14155238886", body="Hi")
    finally:
        await http.aclose()
    assert (message.sid, message.status, message.to) == (
        "SM" + "1" * 32,
        "queued",
        "whatsapp:+14155550100",
    )
    assert content.sid == "HX" + "2" * 32
    sent, created, _ = recorder.seen
    assert (sent.method, sent.path, sent.headers["authorization"]) == ("POST", MESSAGES, BASIC)
    assert dict(parse_qsl(sent.body.decode())) == {
        "To": "whatsapp:+14155550100",
        "From": "whatsapp:+14155238886",
        "ContentSid": "HX" + "3" * 32,
        "ContentVariables": '{"1": "Ann"}',
        "StatusCallback": "https://clarion.test/hooks/twilio/status",
    }
    assert (created.path, created.headers["content-type"]) == ("/v1/Content", "application/json")
    assert json.loads(created.body) == {
        "friendly_name": "promo",
        "language": "en",
        "variables": {"1": "Ann"},
        "types": {"twilio/text": {"body": "Hi {{1}}"}},
    }
    # Twilio's refusal, raised by the package, classifies by its code.
    verdict = classify(caught.value)
    assert (verdict.kind, verdict.error_code) == (Kind.FAILED, "21211")


async def test_one_client_per_channel_until_its_credentials_change(recorder: Recorder) -> None:
    clients = TwilioClients()
    first = Credentials(SID, TOKEN, recorder.url)
    a = clients.get(1, first)
    assert clients.get(1, Credentials(SID, TOKEN, recorder.url)) is a
    b = clients.get(2, first)
    assert b is not a
    c = clients.get(1, Credentials(SID, "other-token", recorder.url))
    assert c is not a
    old_http = a.http_client
    assert not old_http.is_closed  # closed after the grace period, or at shutdown
    await c.messages.create_async(to="+14155550100", from_="+14155238886", body="Hi")
    assert recorder.seen[-1].headers["authorization"] == (
        "Basic " + base64.b64encode(f"{SID}:other-token".encode()).decode()
    )
    assert TOKEN not in repr(first)
    await clients.aclose()
    assert old_http.is_closed
    assert b.http_client.is_closed
    assert c.http_client.is_closed
