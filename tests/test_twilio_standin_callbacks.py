"""The stand-in's status callbacks and inbound messages, received by a real HTTP server in
this process and checked with the twilio package's RequestValidator over the exact URL."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.twilio_standin.client import StandinHttpClient
from tests.twilio_standin.fixture import REPO, Standin, twilio_standin
from tests.twilio_standin.receiver import Received, Receiver

__all__ = ["twilio_standin"]

SMS_TO = "+15551230001"
WA_TO = "whatsapp:+15551230002"
SMS_FROM = "+15005550006"
WA_FROM = "whatsapp:+14155238886"
# The query string is part of what Twilio signs: a channel's hook URLs carry ?channel=<id>.
STATUS = "/hooks/twilio/status"
INBOUND = "/hooks/twilio/inbound"
QUERY = "?channel=7&x=a%20b"
SID = re.compile(r"SM[0-9a-f]{32}")
COMMON = {"AccountSid", "ApiVersion", "From", "MessageSid", "MessageStatus", "SmsSid"}
COMMON |= {"SmsStatus", "To"}
WHATSAPP = {"ChannelInstallSid", "ChannelPrefix", "ChannelToAddress", "StructuredMessage"}
# Steps 50-100 ms apart: their callbacks, posted concurrently, arrive in order unless a
# post is held up that long (as Twilio's, order is not guaranteed; tests sort where it matters).
FAST = {"enabled": True, "delay": [0.05, 0.1]}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(twilio_standin: Standin, receiver: Receiver) -> None:
    twilio_standin.control.reset()
    twilio_standin.control.callback_plan(**FAST)
    receiver.received.clear()
    receiver.answers.clear()
    receiver.delays.clear()


@pytest.fixture
def twilio(twilio_standin: Standin) -> Iterator[Client]:
    http_client = StandinHttpClient(twilio_standin.base_url, timeout=10)
    yield Client(twilio_standin.account_sid, twilio_standin.auth_token, http_client=http_client)
    assert http_client.session is not None
    http_client.session.close()


def signed(standin: Standin, url: str, post: Received) -> bool:
    """Twilio's signature over the URL we gave and every posted parameter."""
    return bool(RequestValidator(standin.auth_token).validate(url, post.params, post.signature))


def send_whatsapp(twilio: Client, standin: Standin, receiver: Receiver, to: str = WA_TO) -> Any:
    standin.control.open_window(to)
    return twilio.messages.create(
        to=to, from_=WA_FROM, body="Hi", status_callback=receiver.url(STATUS + QUERY)
    )


def send_sms(twilio: Client, receiver: Receiver, to: str = SMS_TO) -> Any:
    return twilio.messages.create(
        to=to, from_=SMS_FROM, body="Hi", status_callback=receiver.url(STATUS + QUERY)
    )


# --- sequences and parameters ------------------------------------------------------------


def test_whatsapp_sent_delivered_read_signed_over_the_exact_url(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    message = send_whatsapp(twilio, twilio_standin, receiver)
    assert message.status == "queued"  # no callback for the initial status
    posts = receiver.wait(STATUS, 3)
    twilio_standin.control.wait_callbacks()
    assert receiver.statuses(STATUS) == ["sent", "delivered", "read"]
    url = receiver.url(STATUS + QUERY)
    other = RequestValidator("another-accounts-token")
    for post in posts:
        assert post.content_type == "application/x-www-form-urlencoded"
        assert post.url == url
        assert signed(twilio_standin, url, post)
        assert not other.validate(url, post.params, post.signature)
        assert not RequestValidator(twilio_standin.auth_token).validate(
            receiver.url(STATUS), post.params, post.signature
        )  # the query string is signed too
        assert set(post.params) >= COMMON | WHATSAPP
        assert "ErrorCode" not in post.params
        assert (post.params["MessageSid"], post.params["SmsSid"]) == (message.sid, message.sid)
        assert post.params["SmsStatus"] == post.params["MessageStatus"]
        assert (post.params["From"], post.params["To"]) == (WA_FROM, WA_TO)
        assert post.params["AccountSid"] == twilio_standin.account_sid
        assert post.params["ApiVersion"] == "2010-04-01"
        assert post.params["ChannelPrefix"] == "whatsapp"
        assert re.fullmatch(r"XE[0-9a-f]{32}", post.params["ChannelInstallSid"])
    assert "EventType" not in posts[0].params
    assert [p.params.get("EventType") for p in posts[1:]] == ["DELIVERED", "READ"]
    fetched = twilio.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("read", None)


def test_sms_sent_then_delivered_with_raw_dlr_done_date(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    message = send_sms(twilio, receiver)
    posts = receiver.wait(STATUS, 2)
    twilio_standin.control.wait_callbacks()
    assert receiver.statuses(STATUS) == ["sent", "delivered"]
    for post in posts:
        assert signed(twilio_standin, receiver.url(STATUS + QUERY), post)
        assert set(post.params) & WHATSAPP == set()
        assert "EventType" not in post.params
        assert (post.params["From"], post.params["To"]) == (SMS_FROM, SMS_TO)
    assert "RawDlrDoneDate" not in posts[0].params
    assert re.fullmatch(r"\d{10}", posts[1].params["RawDlrDoneDate"])
    assert twilio.messages(message.sid).fetch().status == "delivered"


def test_messaging_service_callbacks_name_a_sender_and_the_service(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    message = twilio.messages.create(
        to=SMS_TO,
        messaging_service_sid=twilio_standin.messaging_service_sid,
        body="Hi",
        status_callback=receiver.url(STATUS),
    )
    assert message.status == "accepted"
    posts = receiver.wait(STATUS, 2)
    assert [p.params["From"] for p in posts] == [SMS_FROM, SMS_FROM]
    assert {p.params["MessagingServiceSid"] for p in posts} == {
        twilio_standin.messaging_service_sid
    }


def test_no_callback_url_no_callbacks(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    message = twilio.messages.create(to=SMS_TO, from_=SMS_FROM, body="Hi")
    time.sleep(0.3)
    assert twilio_standin.control.wait_callbacks() == []
    assert twilio.messages(message.sid).fetch().status == "queued"


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ({"final": "undelivered", "error_code": 30003}, [("sent", None), ("undelivered", "30003")]),
        ({"final": "failed", "error_code": 63016}, [("failed", "63016")]),
        ({"final": "delivered"}, [("sent", None), ("delivered", None)]),  # read never
    ],
)
def test_number_plans_fail_or_stop_short(
    twilio: Client,
    twilio_standin: Standin,
    receiver: Receiver,
    plan: dict[str, Any],
    expected: list[tuple[str, str | None]],
) -> None:
    twilio_standin.control.callback_number(WA_TO, **plan)
    other = "whatsapp:+15551230009"  # not in the plan: the whole sequence
    message = send_whatsapp(twilio, twilio_standin, receiver)
    send_whatsapp(twilio, twilio_standin, receiver, other)
    twilio_standin.control.wait_callbacks()
    mine = [p for p in receiver.at(STATUS) if p.params["To"] == WA_TO]
    assert [(p.params["MessageStatus"], p.params.get("ErrorCode")) for p in mine] == expected
    assert [p.params["MessageStatus"] for p in receiver.at(STATUS) if p.params["To"] == other] == [
        "sent",
        "delivered",
        "read",
    ]
    for post in mine:
        assert signed(twilio_standin, receiver.url(STATUS + QUERY), post)
        assert ("ChannelStatusMessage" in post.params) == ("ErrorCode" in post.params)
    fetched = twilio.messages(message.sid).fetch()
    last_status, last_code = expected[-1]
    assert (fetched.status, fetched.error_code) == (
        last_status,
        int(last_code) if last_code else None,
    )


def test_sms_undelivered_carries_its_error_code(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_number(SMS_TO, final="undelivered", error_code=30005)
    message = send_sms(twilio, receiver)
    twilio_standin.control.wait_callbacks()
    posts = receiver.at(STATUS)
    assert [(p.params["MessageStatus"], p.params.get("ErrorCode")) for p in posts] == [
        ("sent", None),
        ("undelivered", "30005"),
    ]
    assert "RawDlrDoneDate" in posts[1].params
    assert twilio.messages(message.sid).fetch().error_code == 30005


def test_freeform_outside_the_window_calls_back_failed_63016(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    message = twilio.messages.create(
        to=WA_TO, from_=WA_FROM, body="Hi", status_callback=receiver.url(STATUS + QUERY)
    )
    twilio_standin.control.wait_callbacks()
    [post] = receiver.at(STATUS)
    assert (post.params["MessageStatus"], post.params["ErrorCode"]) == ("failed", "63016")
    assert twilio.messages(message.sid).fetch().status == "failed"


# --- knobs ---------------------------------------------------------------------------------


def test_duplicates_post_every_callback_twice(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(duplicate=True)
    send_whatsapp(twilio, twilio_standin, receiver)
    records = twilio_standin.control.wait_callbacks()
    receiver.wait(STATUS, 6)
    assert sorted(receiver.statuses(STATUS)) == sorted(["sent", "delivered", "read"] * 2)
    assert sum(r["duplicate"] for r in records) == 3
    assert all(signed(twilio_standin, receiver.url(STATUS + QUERY), p) for p in receiver.at(STATUS))


def test_out_of_order_posts_last_status_first_and_fetch_reads_the_last(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(out_of_order=True, delay=[0.02, 0.02])
    message = send_whatsapp(twilio, twilio_standin, receiver)
    twilio_standin.control.wait_callbacks()
    assert receiver.statuses(STATUS) == ["read", "delivered", "sent"]
    assert twilio.messages(message.sid).fetch().status == "read"


def test_late_callbacks_arrive_after_the_status_advanced(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(late_seconds=1.0)
    started = time.time()
    message = send_sms(twilio, receiver)
    deadline = time.monotonic() + 0.8
    while twilio.messages(message.sid).fetch().status != "delivered":
        assert time.monotonic() < deadline, "the status did not advance on time"
        time.sleep(0.02)
    assert receiver.at(STATUS) == []  # the status moved; its callbacks are still to come
    posts = receiver.wait(STATUS, 2, timeout=5)
    assert all(p.at - started >= 1.0 for p in posts)


def test_dropped_callbacks_never_come_but_the_status_advances(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(drop=True)
    message = send_whatsapp(twilio, twilio_standin, receiver)
    records = twilio_standin.control.wait_callbacks()
    time.sleep(0.1)
    assert receiver.at(STATUS) == []
    assert [(r["message_status"], r["dropped"], r["status_code"]) for r in records] == [
        ("sent", True, None),
        ("delivered", True, None),
        ("read", True, None),
    ]
    assert twilio.messages(message.sid).fetch().status == "read"


def test_off_sends_nothing_and_leaves_the_status(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(enabled=False)
    message = send_whatsapp(twilio, twilio_standin, receiver)
    time.sleep(0.2)
    assert twilio_standin.control.wait_callbacks() == []
    assert receiver.at(STATUS) == []
    assert twilio.messages(message.sid).fetch().status == "queued"


def test_paused_holds_every_step_until_resumed(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    assert twilio_standin.control.callback_plan(paused=True)["paused"] is True
    message = send_sms(twilio, receiver)
    time.sleep(0.3)
    assert receiver.at(STATUS) == []
    assert twilio.messages(message.sid).fetch().status == "queued"
    assert twilio_standin.control.callback_plan(paused=False)["paused"] is False
    twilio_standin.control.wait_callbacks()
    assert receiver.statuses(STATUS) == ["sent", "delivered"]


def test_a_number_plan_overrides_the_account_plan(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(drop=True)
    twilio_standin.control.callback_number(SMS_TO, drop=False)
    send_sms(twilio, receiver)
    send_sms(twilio, receiver, "+15551230003")
    twilio_standin.control.wait_callbacks()
    assert {p.params["To"] for p in receiver.at(STATUS)} == {SMS_TO}
    twilio_standin.control.callback_number(SMS_TO, clear=True)
    assert twilio_standin.control.callback_plan()["numbers"] == {}


# --- delivery: retry once, records ---------------------------------------------------------


def test_a_500_is_retried_once_after_the_retry_delay(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(retry_delay_seconds=0.3)
    twilio_standin.control.callback_number(SMS_TO, final="sent")
    receiver.answers[STATUS] = [500]
    message = send_sms(twilio, receiver)
    records = twilio_standin.control.wait_callbacks()
    first, second = receiver.wait(STATUS, 2)
    assert first.params == second.params
    assert first.signature == second.signature
    assert [(r["attempt"], r["status_code"]) for r in records] == [(1, 500), (2, 200)]
    # By the stand-in's own clock: the second attempt began the delay after the first's
    # answer came (the receiver's stamps, taken as each request is read, can be closer).
    begun, answered = records[0]["sent_at"], records[0]["response_ms"] / 1000
    assert records[1]["sent_at"] - (begun + answered) >= 0.3 - 0.002  # the loop's ms clock
    assert records[0]["message_sid"] == message.sid
    assert records[0]["url"] == receiver.url(STATUS + QUERY)
    assert all(r["response_ms"] > 0 for r in records)


def test_never_more_than_one_retry(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(retry_delay_seconds=0.05, timeout_seconds=0.3)
    twilio_standin.control.callback_number(SMS_TO, final="sent")
    receiver.delays[STATUS] = 1.0  # a receiver slower than the timeout
    send_sms(twilio, receiver)
    records = twilio_standin.control.wait_callbacks()
    assert [(r["attempt"], r["status_code"]) for r in records] == [(1, None), (2, None)]
    assert all("Timeout" in r["error"] for r in records)
    receiver.delays.clear()
    receiver.answers[STATUS] = [503, 503, 503]
    send_sms(twilio, receiver)
    records = twilio_standin.control.wait_callbacks()
    assert [(r["attempt"], r["status_code"]) for r in records[2:]] == [(1, 503), (2, 503)]


def test_unreachable_receiver_is_recorded(twilio: Client, twilio_standin: Standin) -> None:
    twilio_standin.control.callback_plan(retry_delay_seconds=0.0)
    twilio.messages.create(
        to=SMS_TO, from_=SMS_FROM, body="x", status_callback="http://127.0.0.1:9/hooks"
    )
    records = twilio_standin.control.wait_callbacks()
    assert len(records) == 4  # two statuses, each tried twice
    assert all(r["status_code"] is None and r["error"] for r in records)


def test_reset_cancels_pending_callbacks(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(late_seconds=0.5)
    send_sms(twilio, receiver)
    assert twilio_standin.control.callbacks()["pending"] > 0
    twilio_standin.control.reset()
    assert twilio_standin.control.callbacks() == {"callbacks": [], "answers": [], "pending": 0}
    time.sleep(0.8)
    assert receiver.at(STATUS) == []


def test_set_status_is_what_a_fetch_reads(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    twilio_standin.control.callback_plan(enabled=False)
    message = send_sms(twilio, receiver)
    twilio_standin.control.set_status(message.sid, "undelivered", 30006)
    fetched = twilio.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30006)
    twilio_standin.control.set_status(message.sid, "delivered")
    fetched = twilio.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("delivered", None)
    assert receiver.at(STATUS) == []


# --- inbound messages ----------------------------------------------------------------------


def test_inbound_whatsapp_text_signed_with_twilios_params(
    twilio_standin: Standin, receiver: Receiver
) -> None:
    url = receiver.url(INBOUND + QUERY)
    result = twilio_standin.control.inbound(
        url=url, **{"from": "whatsapp:+15551230002", "to": WA_FROM}, body="Yes please"
    )
    assert (result["status_code"], result["body"]) == (200, "<Response/>")
    [post] = receiver.at(INBOUND)
    assert post.params == result["params"]
    assert signed(twilio_standin, url, post)
    assert not RequestValidator("x" * 32).validate(url, post.params, post.signature)
    params = post.params
    assert SID.fullmatch(params["MessageSid"])
    assert params["SmsSid"] == params["SmsMessageSid"] == params["MessageSid"]
    assert (params["From"], params["To"], params["Body"]) == (WA_TO, WA_FROM, "Yes please")
    assert (params["WaId"], params["MessageType"], params["NumMedia"]) == (
        "15551230002",
        "text",
        "0",
    )
    assert params["AccountSid"] == twilio_standin.account_sid
    assert params["ProfileName"]
    assert "ButtonPayload" not in params
    assert "OptOutType" not in params


def test_inbound_quick_reply_tap_and_media(twilio_standin: Standin, receiver: Receiver) -> None:
    url = receiver.url(INBOUND + QUERY)
    tap = twilio_standin.control.inbound(
        url=url,
        **{"from": WA_TO, "to": WA_FROM},
        button_payload="buy_now",
        button_text="Buy now",
        body="Buy now",
    )["params"]
    assert (tap["ButtonPayload"], tap["ButtonText"], tap["MessageType"]) == (
        "buy_now",
        "Buy now",
        "interactive",
    )
    photo = twilio_standin.control.inbound(
        url=url,
        **{"from": WA_TO, "to": WA_FROM},
        media=[{"url": "https://example.com/a.jpg", "content_type": "image/jpeg"}],
    )["params"]
    assert (photo["NumMedia"], photo["MediaUrl0"], photo["MediaContentType0"]) == (
        "1",
        "https://example.com/a.jpg",
        "image/jpeg",
    )
    assert photo["MessageType"] == "image"
    assert photo["MessageSid"].startswith("MM")
    assert all(signed(twilio_standin, url, p) for p in receiver.wait(INBOUND, 2))


def test_reply_to_a_message_fills_its_addresses(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    message = send_whatsapp(twilio, twilio_standin, receiver)
    url = receiver.url(INBOUND + QUERY)
    params = twilio_standin.control.reply(message.sid, url=url, body="Thanks")["params"]
    assert (params["From"], params["To"], params["Body"]) == (WA_TO, WA_FROM, "Thanks")
    assert params["OriginalRepliedMessageSid"] == message.sid
    assert params["OriginalRepliedMessageSender"] == WA_FROM
    [post] = receiver.at(INBOUND)
    assert signed(twilio_standin, url, post)
    by_sid = twilio_standin.control.inbound(
        url=url, **{"from": WA_TO, "to": WA_FROM}, reply_to=message.sid, body="again"
    )["params"]
    assert by_sid["OriginalRepliedMessageSid"] == message.sid


def test_reply_every_answers_every_nth_message_that_did_not_fail(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    url = receiver.url(INBOUND + QUERY)
    twilio_standin.control.callback_plan(reply_every=2, reply_url=url, reply_body="Count me in")
    numbers = [f"whatsapp:+1555123010{i}" for i in range(5)]
    twilio_standin.control.callback_number(numbers[2], final="failed")
    sids = [send_whatsapp(twilio, twilio_standin, receiver, to).sid for to in numbers]
    twilio_standin.control.wait_callbacks()
    answers = twilio_standin.control.callbacks()["answers"]
    # The first, third and fifth messages; the third failed: not answered.
    assert sorted(a["message_sid"] for a in answers) == sorted([sids[0], sids[4]])
    assert {a["status_code"] for a in answers} == {200}
    posts = {post.params["OriginalRepliedMessageSid"]: post for post in receiver.at(INBOUND)}
    assert set(posts) == {sids[0], sids[4]}
    for i in (0, 4):
        post = posts[sids[i]]
        assert signed(twilio_standin, url, post)
        assert (post.params["From"], post.params["To"]) == (numbers[i], WA_FROM)
        assert post.params["Body"] == "Count me in"
        assert twilio.messages(sids[i]).fetch().status == "read"  # answered after reading
    assert {a["reply_sid"] for a in answers} == {p.params["MessageSid"] for p in posts.values()}


def test_an_sms_reply_carries_no_replied_sid(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    message = send_sms(twilio, receiver)
    url = receiver.url(INBOUND)
    params = twilio_standin.control.reply(message.sid, url=url, body="ok")["params"]
    assert (params["From"], params["To"]) == (SMS_TO, SMS_FROM)
    assert "OriginalRepliedMessageSid" not in params
    refused = twilio_standin.control.http.post(
        f"/accounts/{twilio_standin.account_sid}/inbound",
        json={"url": url, "from": SMS_TO, "to": SMS_FROM, "reply_to": message.sid},
    )
    assert refused.status_code == 400
    assert len(receiver.at(INBOUND)) == 1


def test_the_url_is_posted_as_given(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    """No re-quoting: Twilio signs the URL exactly as configured."""
    odd = STATUS + "?channel=7&q=%41b+c&e="
    twilio.messages.create(to=SMS_TO, from_=SMS_FROM, body="x", status_callback=receiver.url(odd))
    twilio_standin.control.wait_callbacks()
    posts = receiver.at(STATUS)
    assert len(posts) == 2
    assert all(p.url == receiver.url(odd) for p in posts)
    assert all(signed(twilio_standin, receiver.url(odd), p) for p in posts)


def test_sms_stop_opts_out_until_start(
    twilio: Client, twilio_standin: Standin, receiver: Receiver
) -> None:
    url = receiver.url(INBOUND + QUERY)
    stop = twilio_standin.control.inbound(
        url=url, **{"from": SMS_TO, "to": SMS_FROM}, body=" stop "
    )["params"]
    assert stop["OptOutType"] == "STOP"
    assert "WaId" not in stop
    with pytest.raises(TwilioRestException) as refused:
        twilio.messages.create(to=SMS_TO, from_=SMS_FROM, body="promo")
    assert refused.value.code == 21610
    start = twilio_standin.control.inbound(
        url=url, **{"from": SMS_TO, "to": SMS_FROM}, body="START"
    )["params"]
    assert start["OptOutType"] == "START"
    help_ = twilio_standin.control.inbound(
        url=url, **{"from": SMS_TO, "to": SMS_FROM}, body="help"
    )["params"]
    assert help_["OptOutType"] == "HELP"
    assert twilio.messages.create(to=SMS_TO, from_=SMS_FROM, body="again").status == "queued"
    assert all(signed(twilio_standin, url, p) for p in receiver.wait(INBOUND, 3))


def test_inbound_reports_the_receivers_answer(twilio_standin: Standin, receiver: Receiver) -> None:
    receiver.answers[INBOUND] = [403]
    result = twilio_standin.control.inbound(
        url=receiver.url(INBOUND), **{"from": SMS_TO, "to": SMS_FROM}, body="hi"
    )
    assert result["status_code"] == 403


def test_cli_posts_an_inbound(twilio_standin: Standin, receiver: Receiver) -> None:
    url = receiver.url(INBOUND + QUERY)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.twilio_standin",
            "inbound",
            "--standin",
            twilio_standin.base_url,
            "--url",
            url,
            "--from",
            "whatsapp:+15551230002",
            "--body",
            "Yes",
            "--button-payload",
            "yes_1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["status_code"] == 200
    [post] = receiver.at(INBOUND)
    assert post.params["To"] == WA_FROM  # the sample account's WhatsApp sender
    assert (post.params["Body"], post.params["ButtonPayload"]) == ("Yes", "yes_1")
    assert signed(twilio_standin, url, post)


# --- hostile control input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/callback_plan", {"drop": 2}),
        ("/callback_plan", {"delay": [0.5, 0.1]}),
        ("/callback_plan", {"final": "lost"}),
        ("/callback_plan", {"error_code": "30003"}),
        ("/callback_plan", {"surprise": 1}),
        ("/callback_plan", {"paused": "yes"}),
        ("/callback_plan", {"reply_every": -1}),
        ("/callback_plan", {"reply_every": True}),
        ("/callback_plan", {"reply_url": "ftp://x/"}),
        ("/callback_plan", {"reply_url": "http://x/ y"}),
        ("/callback_plan", {"reply_body": "a\x00"}),
        ("/callback_numbers", {"number": SMS_TO, "paused": True}),
        ("/callback_numbers", {"number": "15551230001", "final": "failed"}),
        ("/inbound", {"url": "http://x/\x00", "from": SMS_TO, "to": SMS_FROM}),
        ("/inbound", {"url": "ftp://x/", "from": SMS_TO, "to": SMS_FROM}),
        ("/inbound", {"url": "http://x/", "from": SMS_TO, "to": SMS_FROM, "body": "a\x00"}),
        ("/inbound", {"url": "http://x/", "from": SMS_TO, "to": "+15551239999"}),
        ("/inbound", {"url": "http://x/", "from": WA_TO, "to": SMS_FROM}),
        ("/inbound", {"url": "http://x/", "from": SMS_TO, "to": SMS_FROM, "body": "a" * 2000}),
    ],
)
def test_control_refuses_bad_callback_input(
    twilio_standin: Standin, receiver: Receiver, path: str, body: dict[str, Any]
) -> None:
    before = twilio_standin.control.callback_plan()
    method = "PUT" if path == "/callback_plan" else "POST"
    answer = twilio_standin.control.http.request(
        method, f"/accounts/{twilio_standin.account_sid}{path}", json=body
    )
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert twilio_standin.control.callback_plan() == before
    assert receiver.received == []


def test_unknown_message_is_404(twilio_standin: Standin) -> None:
    for path in ("status", "reply"):
        answer = twilio_standin.control.http.post(
            f"/messages/SM{'0' * 32}/{path}", json={"status": "sent", "url": "http://x/"}
        )
        assert answer.status_code == 404


def test_callback_emission_rate(twilio_standin: Standin, receiver: Receiver) -> None:
    """Many messages at once: every callback arrives, signed (the rate is printed)."""
    twilio_standin.control.callback_plan(delay=[0.0, 0.0])
    auth = (twilio_standin.account_sid, twilio_standin.auth_token)
    path = f"/2010-04-01/Accounts/{twilio_standin.account_sid}/Messages.json"
    count = 200
    with httpx.Client(base_url=twilio_standin.base_url, auth=auth, timeout=10) as http:
        for i in range(count):
            http.post(
                path,
                data={
                    "To": f"+1555124{i:04d}",
                    "From": SMS_FROM,
                    "Body": "x",
                    "StatusCallback": receiver.url(STATUS),
                },
            ).raise_for_status()
    records = twilio_standin.control.wait_callbacks()
    assert len(records) == 2 * count
    assert all(r["status_code"] == 200 for r in records)
    posts = receiver.wait(STATUS, 2 * count)
    assert all(signed(twilio_standin, receiver.url(STATUS), p) for p in posts)


# --- the poster's kept-alive connections -------------------------------------------------


async def test_poster_reconnects_when_a_kept_alive_connection_was_closed() -> None:
    """A server that closes each connection after answering without saying so: the next
    post finds the kept connection dead and opens a new one, posting once."""
    from urllib.parse import urlsplit

    from tests.twilio_standin.poster import Poster

    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
        requests.append(head + await reader.readexactly(length))
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        writer.write(chunked)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    poster = Poster()
    try:
        url = urlsplit(f"http://127.0.0.1:{port}/cb?channel=1&q=%41")
        for body in (b"a=1", b"a=2"):
            await asyncio.sleep(0.05)  # the server has closed the kept connection by now
            assert await poster.post(url, {"X-Twilio-Signature": "s"}, body, 5) == (200, b"ok")
        assert [r.split(b"\r\n\r\n")[1] for r in requests] == [b"a=1", b"a=2"]
        assert requests[0].startswith(b"POST /cb?channel=1&q=%41 HTTP/1.1\r\n")
    finally:
        poster.close()
        server.close()
        await server.wait_closed()
