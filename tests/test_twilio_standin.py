"""The Twilio stand-in (tests/twilio_standin) in its own process, driven by the `twilio`
package's own sync client over a real socket, plus raw HTTP for what the client never sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.twilio_standin import trim_oai
from tests.twilio_standin.client import StandinHttpClient
from tests.twilio_standin.fixture import Standin, twilio_standin
from tests.twilio_standin.validation import OAI_DIR, validate

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

__all__ = ["twilio_standin"]

TO = "+15551230001"
WA_TO = "whatsapp:+15551230002"
SMS_FROM = "+15005550006"
WA_FROM = "whatsapp:+14155238886"
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
RFC2822 = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000")


@pytest.fixture(autouse=True)
def _fresh(twilio_standin: Standin) -> None:
    twilio_standin.control.reset()


@pytest.fixture
def twilio(twilio_standin: Standin) -> Iterator[Client]:
    http_client = StandinHttpClient(twilio_standin.base_url, timeout=10)
    yield Client(twilio_standin.account_sid, twilio_standin.auth_token, http_client=http_client)
    assert http_client.session is not None
    http_client.session.close()


@pytest.fixture
def raw(twilio_standin: Standin) -> Iterator[httpx.Client]:
    auth = (twilio_standin.account_sid, twilio_standin.auth_token)
    with httpx.Client(base_url=twilio_standin.base_url, auth=auth, timeout=10) as client:
        yield client


def messages_path(standin: Standin) -> str:
    return f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"


def make_content(twilio: Client, body: str = "Hi {{1}}, your order {{2}}") -> Any:
    request = twilio.content.v1.contents.ContentCreateRequest(
        {
            "friendly_name": "order",
            "language": "en",
            "variables": {"1": "friend", "2": "X1"},
            "types": {"twilio/text": {"body": body}},
        }
    )
    return twilio.content.v1.contents.create(request)


def submit(twilio: Client, sid: str, name: str = "order_update") -> Any:
    creator = twilio.content.v1.contents(sid).approval_create
    return creator.create(creator.ContentApprovalRequest({"name": name, "category": "UTILITY"}))


def approval_status(twilio: Client, sid: str) -> dict[str, Any]:
    whatsapp: dict[str, Any] = twilio.content.v1.contents(sid).approval_fetch().fetch().whatsapp
    return whatsapp


def rejected(call: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


# --- the trimmed descriptions ---------------------------------------------------------


def test_trimmed_descriptions_are_what_trim_oai_makes() -> None:
    source = trim_oai.find_source()
    if source is None:
        pytest.skip("Twilio's full descriptions (../shared/twilio-oai) are not on this machine")
    for name, text in trim_oai.build(source).items():
        assert (OAI_DIR / name).read_text("utf-8") == text, name
    kept = json.loads((OAI_DIR / "twilio_api_v2010.json").read_text("utf-8"))
    assert sorted(kept["paths"]) == [
        "/2010-04-01/Accounts/{AccountSid}/Messages.json",
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
    ]
    assert sorted(kept["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"]) == [
        "description",
        "get",
        "servers",
        "x-twilio",
    ]


def test_trim_keeps_referenced_components_transitively() -> None:
    document = {
        "openapi": "3.0.1",
        "paths": {
            "/a": {"get": {"x": {"$ref": "#/components/schemas/A"}}, "post": {"y": 1}},
            "/b": {"get": {}},
        },
        "components": {
            "schemas": {
                "A": {"items": {"$ref": "#/components/schemas/B"}},
                "B": {"type": "string"},
                "C": {"type": "string"},
            }
        },
    }
    trimmed = trim_oai.trim(document, {"/a": ("get",)})
    assert trimmed == {
        "openapi": "3.0.1",
        "paths": {"/a": {"get": {"x": {"$ref": "#/components/schemas/A"}}}},
        "components": {
            "schemas": {"A": {"items": {"$ref": "#/components/schemas/B"}}, "B": {"type": "string"}}
        },
    }


# --- messages -------------------------------------------------------------------------


def test_create_and_fetch_an_sms(twilio: Client, twilio_standin: Standin) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    message = twilio.messages.create(
        to=TO, from_=SMS_FROM, body="Hello there", status_callback="https://example.com/cb"
    )
    assert MESSAGE_SID.fullmatch(message.sid)
    assert message.sid.startswith("SM")
    assert (message.account_sid, message.to, message.from_, message.body) == (
        twilio_standin.account_sid,
        TO,
        SMS_FROM,
        "Hello there",
    )
    assert (message.status, message.num_segments, message.error_code) == ("queued", "1", None)
    assert message.date_created is not None
    assert message.date_created >= before
    assert (
        message.uri
        == f"/2010-04-01/Accounts/{twilio_standin.account_sid}/Messages/{message.sid}.json"
    )
    fetched = twilio.messages(message.sid).fetch()
    assert (fetched.sid, fetched.status, fetched.body) == (message.sid, "queued", "Hello there")
    [stored] = twilio_standin.control.messages()
    assert stored["standin"]["status_callback"] == "https://example.com/cb"
    assert RFC2822.fullmatch(stored["date_sent"])


def test_segments_follow_the_encoding(twilio: Client) -> None:
    gsm = twilio.messages.create(to=TO, from_=SMS_FROM, body="a" * 161)
    ucs2 = twilio.messages.create(to=TO, from_=SMS_FROM, body="é" * 10 + "ж" * 61)
    assert (gsm.num_segments, ucs2.num_segments) == ("2", "2")
    assert twilio.messages.create(to=TO, from_=SMS_FROM, body="ж" * 70).num_segments == "1"


def test_messaging_service_answers_accepted(twilio: Client, twilio_standin: Standin) -> None:
    message = twilio.messages.create(
        to=TO, messaging_service_sid=twilio_standin.messaging_service_sid, body="hi"
    )
    assert (message.status, message.from_, message.messaging_service_sid) == (
        "accepted",
        None,
        twilio_standin.messaging_service_sid,
    )
    other = "MG" + "0" * 32
    error = rejected(lambda: twilio.messages.create(to=TO, messaging_service_sid=other, body="x"))
    assert (error.status, error.code) == (400, 21701)


def test_fetch_unknown_message_is_404(twilio: Client) -> None:
    error = rejected(lambda: twilio.messages("SM" + "0" * 32).fetch())
    assert (error.status, error.code) == (404, 20404)


def test_list_filters_and_pages(twilio: Client) -> None:
    a = [twilio.messages.create(to=TO, from_=SMS_FROM, body=f"a{i}").sid for i in range(5)]
    b = [twilio.messages.create(to="+15551230009", from_=SMS_FROM, body="b").sid]
    assert [m.sid for m in twilio.messages.list(to=TO)] == a[::-1]
    assert [m.sid for m in twilio.messages.list(to=TO, page_size=2)] == a[::-1]
    assert [m.sid for m in twilio.messages.stream(page_size=1)] == (a + b)[::-1]
    assert [m.sid for m in twilio.messages.list(from_="+15005550007")] == []
    today = twilio.messages(a[-1]).fetch().date_sent  # not now(): midnight may pass
    assert len(twilio.messages.list(to=TO, date_sent=today.date())) == 5
    assert twilio.messages.list(date_sent_before=today - timedelta(days=1)) == []
    assert len(twilio.messages.list(to=TO, date_sent_after=today - timedelta(minutes=1))) == 5
    assert twilio.messages.list(date_sent_after=today + timedelta(minutes=1)) == []
    page = twilio.messages.page(to=TO, page_size=2)
    assert page.next_page_url is not None
    assert "PageToken=PA" in page.next_page_url


def test_list_takes_a_plain_date_and_refuses_garbage(
    raw: httpx.Client, twilio_standin: Standin, twilio: Client
) -> None:
    twilio.messages.create(to=TO, from_=SMS_FROM, body="x")
    today = datetime.now(UTC).date().isoformat()
    answer = raw.get(messages_path(twilio_standin) + f"?DateSent<={today}&PageSize=1")
    assert answer.status_code == 200
    assert len(answer.json()["messages"]) == 1
    for query in ("DateSent=yesterday", "PageSize=5000", "PageSize=0", "PageToken=PAnope"):
        answer = raw.get(messages_path(twilio_standin) + "?" + query)
        assert (answer.status_code, answer.json()["code"]) == (400, 20001), query


# --- content and approval -------------------------------------------------------------


def test_content_create_fetch_list(twilio: Client, twilio_standin: Standin) -> None:
    content = make_content(twilio)
    assert re.fullmatch(r"HX[0-9a-f]{32}", content.sid)
    assert (content.account_sid, content.language, content.variables) == (
        twilio_standin.account_sid,
        "en",
        {"1": "friend", "2": "X1"},
    )
    assert content.url == f"https://content.twilio.com/v1/Content/{content.sid}"
    fetched = twilio.content.v1.contents(content.sid).fetch()
    assert fetched.types == {"twilio/text": {"body": "Hi {{1}}, your order {{2}}"}}
    second = make_content(twilio, "Bye {{1}}")
    assert [c.sid for c in twilio.content.v1.contents.list(page_size=1)] == [
        second.sid,
        content.sid,
    ]


def test_approval_follows_received_pending_approved(twilio: Client) -> None:
    content = make_content(twilio)
    assert approval_status(twilio, content.sid)["status"] == "unsubmitted"
    created = submit(twilio, content.sid)
    assert (created.status, created.name, created.category) == (
        "received",
        "order_update",
        "UTILITY",
    )
    seen = [approval_status(twilio, content.sid)["status"] for _ in range(4)]
    assert seen == ["received", "pending", "approved", "approved"]
    error = rejected(lambda: submit(twilio, content.sid))
    assert (error.status, error.code) == (400, 20001)


def test_approval_plans_reject_and_pause(twilio: Client, twilio_standin: Standin) -> None:
    twilio_standin.control.approval_plan("rejected", "INVALID_FORMAT", after_fetches=1)
    content = make_content(twilio)
    submit(twilio, content.sid)
    assert approval_status(twilio, content.sid)["status"] == "received"
    status = approval_status(twilio, content.sid)
    assert (status["status"], status["rejection_reason"]) == ("rejected", "INVALID_FORMAT")
    other = make_content(twilio)
    twilio_standin.control.approval_plan("approved", content_sid=other.sid)
    submit(twilio, other.sid, "other")
    assert approval_status(twilio, other.sid)["status"] == "approved"
    twilio_standin.control.approval_plan("paused", "QUALITY_LOW", content_sid=other.sid)
    status = approval_status(twilio, other.sid)
    assert (status["status"], status["rejection_reason"]) == ("paused", "QUALITY_LOW")


def test_approval_request_is_checked(twilio: Client, raw: httpx.Client) -> None:
    content = make_content(twilio)
    creator = twilio.content.v1.contents(content.sid).approval_create
    bad = creator.ContentApprovalRequest({"name": "Has Spaces", "category": "UTILITY"})
    assert rejected(lambda: creator.create(bad)).status == 400
    bad = creator.ContentApprovalRequest({"name": "ok", "category": "SPAM"})
    assert rejected(lambda: creator.create(bad)).status == 400
    path = f"/v1/Content/{content.sid}/ApprovalRequests/whatsapp"
    answer = raw.post(path, json={"name": "ok"})
    assert (answer.status_code, answer.json()["code"]) == (400, 20001)
    assert approval_status(twilio, content.sid)["status"] == "unsubmitted"


# --- WhatsApp sending -----------------------------------------------------------------


def test_whatsapp_template_send(twilio: Client, twilio_standin: Standin) -> None:
    twilio_standin.control.approval_plan("approved")
    content = make_content(twilio)
    submit(twilio, content.sid)
    message = twilio.messages.create(
        to=WA_TO,
        from_=WA_FROM,
        content_sid=content.sid,
        content_variables=json.dumps({"1": "Ann"}),
    )
    assert (message.body, message.status, message.to) == ("Hi Ann, your order X1", "queued", WA_TO)
    [stored] = twilio_standin.control.messages()
    assert stored["standin"]["content_sid"] == content.sid
    assert stored["standin"]["content_variables"] == {"1": "Ann", "2": "X1"}
    assert twilio.messages(message.sid).fetch().status == "queued"


def test_whatsapp_freeform_or_unapproved_fails_with_63016(
    twilio: Client, twilio_standin: Standin
) -> None:
    freeform = twilio.messages.create(to=WA_TO, from_=WA_FROM, body="hello")
    assert freeform.status == "queued"  # Twilio accepts it, then WhatsApp fails it
    fetched = twilio.messages(freeform.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("failed", 63016)
    content = make_content(twilio)  # never submitted for approval
    unapproved = twilio.messages.create(to=WA_TO, from_=WA_FROM, content_sid=content.sid)
    assert twilio.messages(unapproved.sid).fetch().error_code == 63016
    twilio_standin.control.open_window(WA_TO)
    inside = twilio.messages.create(to=WA_TO, from_=WA_FROM, body="hello again")
    assert (twilio.messages(inside.sid).fetch().status, inside.error_code) == ("queued", None)


def test_empty_content_variable_is_21656(twilio: Client, twilio_standin: Standin) -> None:
    content = make_content(twilio)
    for variables in ({"1": ""}, {"2": ""}, "not json", json.dumps(["a"])):
        raw_vars = variables if isinstance(variables, str) else json.dumps(variables)
        error = rejected(
            lambda raw_vars=raw_vars: twilio.messages.create(
                to=WA_TO, from_=WA_FROM, content_sid=content.sid, content_variables=raw_vars
            )
        )
        assert (error.status, error.code) == (400, 21656), variables
    unknown = rejected(
        lambda: twilio.messages.create(to=WA_TO, from_=WA_FROM, content_sid="HX" + "0" * 32)
    )
    assert (unknown.status, unknown.code) == (400, 21655)
    assert twilio_standin.control.counts() == {"total": 0, "by_to": {}}


@pytest.mark.parametrize(
    ("to", "sender", "code"),
    [
        ("+1", SMS_FROM, 21211),
        ("messenger:+15551230001", SMS_FROM, 21211),
        (TO, "+15005550007", 21606),
        (WA_TO, "whatsapp:+15005550007", 63007),
        (WA_TO, SMS_FROM, 21910),
        (TO, WA_FROM, 21910),
    ],
)
def test_addresses_are_checked(
    twilio: Client, twilio_standin: Standin, to: str, sender: str, code: int
) -> None:
    error = rejected(lambda: twilio.messages.create(to=to, from_=sender, body="x"))
    assert (error.status, error.code) == (400, code)
    assert twilio_standin.control.counts()["total"] == 0


def test_body_rules(twilio: Client, twilio_standin: Standin) -> None:
    assert rejected(lambda: twilio.messages.create(to=TO, from_=SMS_FROM)).code == 21602
    long = rejected(lambda: twilio.messages.create(to=TO, from_=SMS_FROM, body="a" * 1601))
    assert long.code == 21617
    assert rejected(lambda: twilio.messages.create(to=TO, body="x")).code == 21603
    assert twilio.messages.create(to=TO, from_=SMS_FROM, body="a" * 1600).num_segments == "11"
    assert twilio_standin.control.counts()["total"] == 1


# --- failure injection ----------------------------------------------------------------


@pytest.mark.parametrize("code", [21211, 21610, 21614, 21408, 63018])
def test_number_errors(twilio: Client, twilio_standin: Standin, code: int) -> None:
    twilio_standin.control.number_error("+15005550001", code)
    for to, sender in (("+15005550001", SMS_FROM), ("whatsapp:+15005550001", WA_FROM)):
        error = rejected(
            lambda to=to, sender=sender: twilio.messages.create(to=to, from_=sender, body="x")
        )
        assert (error.status, error.code) == (400, code)
    assert twilio_standin.control.counts()["total"] == 0
    assert twilio.messages.create(to=TO, from_=SMS_FROM, body="x").status == "queued"
    twilio_standin.control.number_error("+15005550001", None)
    assert twilio.messages.create(to="+15005550001", from_=SMS_FROM, body="x").status == "queued"


@pytest.mark.parametrize(("code", "status"), [(20003, 401), (21408, 400), (63018, 400)])
def test_account_errors(twilio: Client, twilio_standin: Standin, code: int, status: int) -> None:
    twilio_standin.control.account_error(code)
    error = rejected(lambda: twilio.messages.create(to=TO, from_=SMS_FROM, body="x"))
    assert (error.status, error.code) == (status, code)
    assert twilio_standin.control.counts()["total"] == 0


def test_429_storm_then_through(twilio: Client, twilio_standin: Standin) -> None:
    twilio_standin.control.throttle(3)
    for _ in range(3):
        error = rejected(lambda: twilio.messages.create(to=TO, from_=SMS_FROM, body="x"))
        assert (error.status, error.code) == (429, 20429)
    assert twilio_standin.control.counts()["total"] == 0
    assert twilio.messages.create(to=TO, from_=SMS_FROM, body="x").status == "queued"


def test_5xx_after_create_keeps_the_message(twilio: Client, twilio_standin: Standin) -> None:
    twilio_standin.control.server_errors(1, status=503)
    error = rejected(lambda: twilio.messages.create(to=TO, from_=SMS_FROM, body="x"))
    assert (error.status, error.code) == (503, 20500)
    [stored] = twilio_standin.control.messages()
    assert stored["standin"]["answered"] == 503
    # The unknown outcome is resolved by looking it up, as the sender will.
    found = twilio.messages.list(to=TO, date_sent_after=datetime.now(UTC) - timedelta(minutes=5))
    assert [m.sid for m in found] == [stored["sid"]]
    assert twilio.messages.create(to=TO, from_=SMS_FROM, body="x").status == "queued"


def test_delay_times_out_but_creates(twilio_standin: Standin) -> None:
    twilio_standin.control.delay(1.5, count=1)
    http_client = StandinHttpClient(twilio_standin.base_url, timeout=0.5)
    slow = Client(twilio_standin.account_sid, twilio_standin.auth_token, http_client=http_client)
    with pytest.raises(Exception, match=r"(?i)timed? ?out"):
        slow.messages.create(to=TO, from_=SMS_FROM, body="x")
    assert twilio_standin.control.counts() == {"total": 1, "by_to": {TO: 1}}
    assert slow.messages.create(to=TO, from_=SMS_FROM, body="y").status == "queued"


# --- auth -----------------------------------------------------------------------------


def test_bad_credentials_are_401(twilio_standin: Standin, raw: httpx.Client) -> None:
    wrong = Client(
        twilio_standin.account_sid, "0" * 32, http_client=StandinHttpClient(twilio_standin.base_url)
    )
    error = rejected(lambda: wrong.messages.create(to=TO, from_=SMS_FROM, body="x"))
    assert (error.status, error.code) == (401, 20003)
    assert rejected(lambda: wrong.content.v1.contents("HX" + "0" * 32).fetch()).status == 401
    answer = httpx.get(twilio_standin.base_url + messages_path(twilio_standin))
    body = answer.json()
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert (body["code"], body["status"], body["more_info"]) == (
        20003,
        401,
        "https://www.twilio.com/docs/errors/20003",
    )
    other = twilio_standin.control.create_account()
    answer = raw.get(f"/2010-04-01/Accounts/{other['account_sid']}/Messages.json")
    assert (answer.status_code, answer.json()["code"]) == (401, 20003)
    assert twilio_standin.control.counts()["total"] == 0


def test_api_key_and_second_account(twilio_standin: Standin) -> None:
    key = twilio_standin.control.create_api_key()
    keyed = Client(
        key["sid"],
        key["secret"],
        twilio_standin.account_sid,
        http_client=StandinHttpClient(twilio_standin.base_url),
    )
    assert keyed.messages.create(to=TO, from_=SMS_FROM, body="x").status == "queued"
    other = twilio_standin.control.create_account(senders=["+15005550010"])
    second = Client(
        other["account_sid"],
        other["auth_token"],
        http_client=StandinHttpClient(twilio_standin.base_url),
    )
    assert second.messages.list() == []  # isolation: the first account's message is not here
    assert (
        second.messages.create(to=TO, from_="+15005550010", body="y").account_sid
        == other["account_sid"]
    )
    assert twilio_standin.control.counts()["total"] == 1


class _AsyncStandinClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The twilio package's own async client (aiohttp), sent to the stand-in."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.rewriter = StandinHttpClient(base_url)

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return await super().request(method, self.rewriter.rewrite(url), *args, **kwargs)


# twilio 9.13 passes aiohttp's deprecated BasicAuth.
@pytest.mark.filterwarnings(
    "ignore:.*(BasicAuth|'auth' parameter) is deprecated:DeprecationWarning"
)
async def test_async_twilio_client_and_its_json_bodies(twilio_standin: Standin) -> None:
    """The async client sends JSON bodies form-encoded under a JSON Content-Type (twilio
    9.13 with aiohttp): the stand-in refuses that, as Twilio does, so our own client must
    send JSON itself."""
    http_client = _AsyncStandinClient(twilio_standin.base_url)
    client = Client(twilio_standin.account_sid, twilio_standin.auth_token, http_client=http_client)
    try:
        message = await client.messages.create_async(to=TO, from_=SMS_FROM, body="hi")
        assert message.status == "queued"
        request = client.content.v1.contents.ContentCreateRequest(
            {"language": "en", "types": {"twilio/text": {"body": "x"}}}
        )
        with pytest.raises(TwilioRestException) as caught:
            await client.content.v1.contents.create_async(request)
        assert (caught.value.status, caught.value.code) == (400, 20001)
    finally:
        await http_client.close()
    assert twilio_standin.control.counts()["total"] == 1


def test_client_refuses_other_hosts() -> None:
    client = StandinHttpClient("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="not a Twilio host"):
        client.request("GET", "https://evil.example/2010-04-01/Accounts")
    assert client.rewrite("https://content.twilio.com/v1/Content?x=1") == (
        "http://127.0.0.1:1/v1/Content?x=1"
    )


# --- requests that break Twilio's description -----------------------------------------


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": SMS_FROM, "Body": "x"}, 21604),
        ({"To": TO, "From": SMS_FROM, "Body": "x", "TrafficType": "bogus"}, 20001),
        ({"To": TO, "From": SMS_FROM, "Body": "x", "ContentSid": "HX1"}, 20001),
        ({"To": TO, "From": SMS_FROM, "Body": "x", "ValidityPeriod": "soon"}, 20001),
        ({"To": TO, "From": SMS_FROM, "Body": "x", "SmartEncoded": "maybe"}, 20001),
    ],
)
def test_form_against_the_description(
    raw: httpx.Client, twilio_standin: Standin, form: dict[str, str], code: int
) -> None:
    answer = raw.post(messages_path(twilio_standin), data=form)
    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert twilio_standin.control.counts()["total"] == 0


def test_bodies_must_be_what_content_type_says(raw: httpx.Client, twilio_standin: Standin) -> None:
    content = {"language": "en", "types": {"twilio/text": {"body": "hi"}}}
    cases = [
        (json.dumps(content), "application/x-www-form-urlencoded"),
        ("language=en&types=x", "application/json"),
        ("{not json", "application/json"),
        (json.dumps({"language": "en"}), "application/json"),
        (
            json.dumps({"language": "en", "types": {"twilio/text": {"text": "x"}}}),
            "application/json",
        ),
    ]
    for text, content_type in cases:
        answer = raw.post("/v1/Content", content=text, headers={"Content-Type": content_type})
        assert (answer.status_code, answer.json()["code"]) == (400, 20001), text
    answer = raw.post(
        messages_path(twilio_standin),
        content=json.dumps({"To": TO, "From": SMS_FROM, "Body": "x"}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert raw.get("/v1/Content").json()["contents"] == []
    assert twilio_standin.control.counts()["total"] == 0
    answer = raw.post("/v1/Content", json=content)
    assert answer.status_code == 201


def test_oversized_body_is_413(raw: httpx.Client, twilio_standin: Standin) -> None:
    answer = raw.post(messages_path(twilio_standin), data={"To": TO, "Body": "x" * 300_000})
    assert answer.status_code == 413
    assert twilio_standin.control.counts()["total"] == 0


# --- the fast validator agrees with openapi-core; responses match the description -----


class _OaiRequest:
    def __init__(
        self,
        host: str,
        path: str,
        method: str,
        query: list[tuple[str, str]],
        body: bytes | None,
        content_type: str,
    ) -> None:
        self.host_url, self.path, self.method = host, path, method
        self.body, self.content_type = body, content_type
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query), header=Headers({"Authorization": "Basic eDp5"})
        )


class _OaiResponse:
    def __init__(self, answer: httpx.Response) -> None:
        self.status_code = answer.status_code
        self.content_type = answer.headers["content-type"]
        self.headers = Headers(dict(answer.headers))
        self.data = answer.content


def _spec(name: str) -> OpenAPI:
    return OpenAPI.from_dict(json.loads((OAI_DIR / name).read_text("utf-8")))


def test_fast_validator_agrees_with_openapi_core() -> None:
    api = _spec("twilio_api_v2010.json")
    account = "AC" + "a" * 32
    path = f"/2010-04-01/Accounts/{account}/Messages.json"
    form = "application/x-www-form-urlencoded"
    bodies = [
        b"To=%2B15551230001&From=%2B15005550006&Body=hi",
        b"To=%2B15551230001&Body=hi&ProvideFeedback=true&Attempt=2&MediaUrl=https://a/b",
        b"From=x",
        b"To=x&TrafficType=nope",
        b"To=x&Attempt=two",
        b"To=x&ContentSid=HXzz",
        b"To=x&ProvideFeedback=yes",
    ]
    for body in bodies:
        reference = api.unmarshal_request(
            _OaiRequest("https://api.twilio.com", path, "post", [], body, form)
        )
        try:
            validate("CreateMessage", {"AccountSid": account}, [], form, body)
            ours = True
        except Exception:
            ours = False
        assert ours == (not reference.errors), body
    for query in (
        [("PageSize", "20")],
        [("PageSize", "0")],
        [("DateSent>", "2024-01-02T03:04:05Z")],
        [("DateSent", "nonsense")],
    ):
        reference = api.unmarshal_request(
            _OaiRequest("https://api.twilio.com", path, "get", query, None, "")
        )
        try:
            validate("ListMessage", {"AccountSid": account}, query, "", b"")
            ours = True
        except Exception:
            ours = False
        assert ours == (not reference.errors), query


def test_fast_validator_agrees_on_json_bodies() -> None:
    api = _spec("twilio_content_v1.json")
    bodies: list[object] = [
        {"language": "en", "types": {"twilio/text": {"body": "hi"}}},
        {"language": "en", "types": {"twilio/text": {"body": "hi", "extra": 1}}},
        {"language": "en", "types": {"twilio/quick-reply": {"body": "q", "actions": []}}},
        {"language": "en", "variables": {"1": 2}, "types": {}},
        {"types": {}},
        ["not", "an", "object"],
    ]
    for body in bodies:
        raw_body = json.dumps(body).encode()
        reference = api.unmarshal_request(
            _OaiRequest(
                "https://content.twilio.com",
                "/v1/Content",
                "post",
                [],
                raw_body,
                "application/json",
            )
        )
        try:
            validate("CreateContent", {}, [], "application/json", raw_body)
            ours = True
        except Exception:
            ours = False
        assert ours == (not reference.errors), body


def test_concurrent_creates_are_all_kept(twilio_standin: Standin) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def send(i: int) -> str:
        client = Client(
            twilio_standin.account_sid,
            twilio_standin.auth_token,
            http_client=StandinHttpClient(twilio_standin.base_url),
        )
        sids = [
            client.messages.create(to=f"+1555{i:03d}{j:04d}", from_=SMS_FROM, body="x").sid
            for j in range(25)
        ]
        return ",".join(sids)

    with ThreadPoolExecutor(8) as pool:
        sids = ",".join(pool.map(send, range(8))).split(",")
    assert len(set(sids)) == 200
    counts = twilio_standin.control.counts()
    assert counts["total"] == 200
    assert set(counts["by_to"].values()) == {1}


def test_responses_match_the_description(
    raw: httpx.Client, twilio_standin: Standin, twilio: Client
) -> None:
    api, content_api = _spec("twilio_api_v2010.json"), _spec("twilio_content_v1.json")
    path = messages_path(twilio_standin)

    def check(
        spec: OpenAPI, host: str, method: str, answer: httpx.Response, body: bytes | None = None
    ) -> None:
        request = _OaiRequest(
            host,
            answer.request.url.path,
            method,
            list(answer.request.url.params.multi_items()),
            body,
            answer.request.headers.get("content-type", ""),
        )
        spec.validate_response(request, _OaiResponse(answer))

    created = raw.post(path, data={"To": TO, "From": SMS_FROM, "Body": "x"})
    check(api, "https://api.twilio.com", "post", created, created.request.content)
    message_path = path.removesuffix(".json") + f"/{created.json()['sid']}.json"
    check(api, "https://api.twilio.com", "get", raw.get(message_path))
    check(api, "https://api.twilio.com", "get", raw.get(path, params={"PageSize": 1}))
    content = raw.post(
        "/v1/Content", json={"language": "en", "types": {"twilio/text": {"body": "hi {{1}}"}}}
    )
    check(content_api, "https://content.twilio.com", "post", content, content.request.content)
    sid = content.json()["sid"]
    check(content_api, "https://content.twilio.com", "get", raw.get(f"/v1/Content/{sid}"))
    check(content_api, "https://content.twilio.com", "get", raw.get("/v1/Content"))
    approval = raw.post(
        f"/v1/Content/{sid}/ApprovalRequests/whatsapp", json={"name": "a", "category": "UTILITY"}
    )
    check(content_api, "https://content.twilio.com", "post", approval, approval.request.content)
    check(
        content_api,
        "https://content.twilio.com",
        "get",
        raw.get(f"/v1/Content/{sid}/ApprovalRequests"),
    )
    date_sent = parsedate_to_datetime(created.json()["date_sent"])
    assert date_sent.tzinfo is not None


# --- the control API refuses nonsense -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/number_errors", {"number": "15005550001", "error": 21211}),
        ("/number_errors", {"number": "+15005550001", "error": 99999}),
        ("/number_errors", {"number": "+15005550001", "error": True}),
        ("/throttle", {"count": -1}),
        ("/server_errors", {"count": 1, "status": 404}),
        ("/delay", {"seconds": 10_000}),
        ("/account_error", {"error": "20003"}),
    ],
)
def test_control_refuses_bad_input(
    twilio_standin: Standin, path: str, body: dict[str, Any]
) -> None:
    answer = twilio_standin.control.http.post(
        f"/accounts/{twilio_standin.account_sid}{path}", json=body
    )
    assert answer.status_code == 400
    assert "error" in answer.json()
    counts = twilio_standin.control.http.get(f"/accounts/{twilio_standin.account_sid}/counts")
    assert counts.json() == {"total": 0, "by_to": {}}


def test_control_unknown_account_is_404(twilio_standin: Standin) -> None:
    answer = twilio_standin.control.http.get("/accounts/AC" + "0" * 32 + "/counts")
    assert answer.status_code == 404


def test_command_line_prints_base_url_and_credentials() -> None:
    import subprocess
    import sys

    from tests.twilio_standin.fixture import REPO, free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.twilio_standin", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        sid_line = process.stdout.readline()
        assert first.strip() == f"Twilio stand-in at http://127.0.0.1:{port}"
        assert re.fullmatch(r"\s+account SID:\s+AC[0-9a-f]{32}\s*", sid_line)
    finally:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def test_package_is_self_contained() -> None:
    for name in ("twilio_api_v2010.json", "twilio_content_v1.json", "LICENSE"):
        assert (OAI_DIR / name).is_file()
    source = Path(__file__).parent / "twilio_standin"
    for module in source.glob("*.py"):
        assert "shared/twilio-oai" not in module.read_text("utf-8") or module.name == "trim_oai.py"


def test_global_reset_keeps_only_the_emptied_sample(
    twilio: Client, twilio_standin: Standin
) -> None:
    other = twilio_standin.control.create_account()
    twilio.messages.create(to=TO, from_=SMS_FROM, body="x")
    twilio_standin.control.throttle(2)
    answer = twilio_standin.control.http.post("/reset")
    assert answer.json() == {"reset": True}
    gone = twilio_standin.control.http.get(f"/accounts/{other['account_sid']}")
    assert gone.status_code == 404
    assert twilio_standin.control.counts() == {"total": 0, "by_to": {}}
    assert twilio.messages.create(to=TO, from_=SMS_FROM, body="y").status == "queued"
