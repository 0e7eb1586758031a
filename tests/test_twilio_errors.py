"""jobs/channels/twilio/errors.py: every code of the reference's table, statuses without a
code, transport failures, and hostile answers."""

import errno
import json
import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from jobs.channels.base import Outcome, SendResult
from jobs.channels.twilio.errors import (
    MAX_REASON_LENGTH,
    MESSAGING_LIMIT_RETRY_S,
    Kind,
    by_code,
    classify,
)
from jobs.channels.twilio.http import (
    ClientClosed,
    DeadlineExceeded,
    ForeignHost,
    NoConnectionFree,
    ResponseTooLarge,
)

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

URI = "/Accounts/AC0/Messages.json"


def rest(status: int, code: object, message: str = "Twilio says no") -> TwilioRestException:
    """As the twilio package raises it for a JSON error body."""
    return TwilioRestException(status, URI, f"Unable to create record: {message}", code, "POST")


# code, HTTP status, kind, throttled, retry after (reference: shared/reference/twilio.md).
CODES = [
    (20429, 429, Kind.RETRY, True, None),
    (21211, 400, Kind.FAILED, False, None),
    (21614, 400, Kind.FAILED, False, None),
    (21612, 400, Kind.FAILED, False, None),
    (21610, 400, Kind.OPTED_OUT, False, None),
    (21408, 400, Kind.HALT, False, None),
    (20003, 401, Kind.HALT, False, None),
    (20005, 401, Kind.HALT, False, None),
    (21212, 400, Kind.HALT, False, None),
    (21606, 400, Kind.HALT, False, None),
    (21611, 400, Kind.RETRY, True, None),
    (30001, 400, Kind.RETRY, True, None),
    (30036, 400, Kind.RETRY, False, None),
    (30003, 400, Kind.RETRY, False, None),
    (30008, 400, Kind.RETRY, False, None),
    (30005, 400, Kind.FAILED, False, None),
    (30006, 400, Kind.FAILED, False, None),
    (30007, 400, Kind.FAILED, False, None),
    (63003, 400, Kind.FAILED, False, None),
    (63024, 400, Kind.FAILED, False, None),
    (63032, 400, Kind.FAILED, False, None),
    (63014, 400, Kind.OPTED_OUT, False, None),
    (63016, 400, Kind.HALT, False, None),
    (63018, 429, Kind.HALT, False, MESSAGING_LIMIT_RETRY_S),
]


@pytest.mark.parametrize(("code", "status", "kind", "throttled", "retry_after"), CODES)
def test_every_code_of_the_reference(
    code: int, status: int, kind: Kind, throttled: bool, retry_after: float | None
) -> None:
    verdict = classify(rest(status, code, "Twilio's words"))
    reason = f"Twilio {code}: Twilio's words (HTTP {status})"
    assert (verdict.kind, verdict.reason, verdict.error_code) == (kind, reason, str(code))
    assert (verdict.throttled, verdict.retry_after_s) == (throttled, retry_after)
    halt = verdict.halt()
    if kind is Kind.HALT:
        assert halt is not None
        assert (halt.reason, halt.retry_after_s) == (reason, retry_after)
        assert verdict.result() == SendResult(Outcome.UNSENT, reason, error_code=str(code))
    else:
        assert halt is None
        assert verdict.result() == SendResult(Outcome(kind.value), reason, error_code=str(code))
    # A status callback's ErrorCode (no HTTP status) is judged the same way.
    assert by_code(code).kind is kind


@pytest.mark.parametrize(
    ("status", "code", "kind", "throttled"),
    [
        (429, None, Kind.RETRY, True),
        (401, None, Kind.HALT, False),
        (403, None, Kind.HALT, False),
        (404, None, Kind.HALT, False),
        (400, None, Kind.FAILED, False),
        (400, 21999, Kind.FAILED, False),
        (500, None, Kind.UNKNOWN, False),
        (502, None, Kind.UNKNOWN, False),
        (503, 20500, Kind.UNKNOWN, False),
        (302, None, Kind.UNKNOWN, False),
    ],
)
def test_statuses_without_a_known_code(
    status: int, code: int | None, kind: Kind, throttled: bool
) -> None:
    # Without a code in the body the package puts the status where the code goes.
    verdict = classify(rest(status, status if code is None else code, "x"))
    assert (verdict.kind, verdict.throttled) == (kind, throttled)
    assert verdict.error_code == ("" if code is None else str(code))
    label = "Twilio" if code is None else f"Twilio {code}"
    assert verdict.reason == f"{label}: x (HTTP {status})"


def test_an_rfc_9457_answer_counts_too() -> None:
    exc = TwilioServiceException("about:blank", "Invalid To", 400, 21211, detail="bad To")
    verdict = classify(exc)
    assert (verdict.kind, verdict.reason) == (Kind.FAILED, "Twilio 21211: bad To (HTTP 400)")


@pytest.mark.parametrize("code", ["21211", "abc", 21211.5, True, {"x": 1}, -5, 10**12])
def test_hostile_codes_are_read_safely(code: object) -> None:
    verdict = classify(rest(400, code))
    expected = Kind.FAILED  # "21211" is a code; anything else is a plain 400
    assert verdict.kind is expected
    assert verdict.error_code == ("21211" if code == "21211" else "")


def test_hostile_messages_become_one_short_line() -> None:
    verdict = classify(rest(400, 21211, "line one\r\nline\x1b[31m two\u2028" + "z" * 1000))
    assert verdict.reason.startswith("Twilio 21211: line one line [31m two z")
    assert len(verdict.reason) == MAX_REASON_LENGTH
    assert verdict.reason.endswith("…")
    assert not any(ch in verdict.reason for ch in "\r\n\x1b\u2028")


KEY = ConnectionKey("10.1.2.3", 9, True, True, None, None, None, None)


def connect_error() -> aiohttp.ClientConnectorError:
    """As aiohttp raises it: the OSError of the connect call, then its own."""
    cause = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('10.1.2.3', 9)")
    try:
        raise aiohttp.ClientConnectorError(KEY, cause) from cause
    except aiohttp.ClientConnectorError as exc:
        return exc


def dns_error() -> aiohttp.ClientConnectorError:
    cause = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    try:
        raise aiohttp.ClientConnectorDNSError(KEY, cause) from cause
    except aiohttp.ClientConnectorError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "kind", "reason"),
    [
        (
            connect_error(),
            Kind.HALT,
            "Could not connect to the channel's API (connection refused).",
        ),
        (dns_error(), Kind.HALT, "Could not connect to the channel's API (host name not found)."),
        (
            aiohttp.ConnectionTimeoutError("Connection timeout to host http://10.1.2.3:9"),
            Kind.HALT,
            "Could not connect to the channel's API (timed out).",
        ),
        (
            aiohttp.ClientConnectorCertificateError(
                KEY, ssl.SSLCertVerificationError("certificate verify failed")
            ),
            Kind.HALT,
            "Could not connect to the channel's API (TLS handshake failed).",
        ),
        (
            aiohttp.NonHttpUrlClientError("ftp://10.1.2.3/2010-04-01"),
            Kind.HALT,
            "Could not connect to the channel's API (unsupported URL scheme).",
        ),
        (
            ForeignHost("refused a request to https://evil.test"),
            Kind.HALT,
            "Twilio request refused: refused a request to https://evil.test",
        ),
        (
            NoConnectionFree("no connection was free within 5 s"),
            Kind.RETRY,
            "not sent: no connection was free, or the client closed",
        ),
        (
            ClientClosed("closed"),
            Kind.RETRY,
            "not sent: no connection was free, or the client closed",
        ),
        (
            aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
            Kind.UNKNOWN,
            "timed out after the request was sent",
        ),
        (TimeoutError(), Kind.UNKNOWN, "timed out after the request was sent"),
        (
            DeadlineExceeded("no complete answer from http://127.0.0.1:9 within 10 s"),
            Kind.UNKNOWN,
            "timed out after the request was sent: no complete answer from "
            "http://127.0.0.1:9 within 10 s",
        ),
        (
            aiohttp.ServerDisconnectedError(),
            Kind.UNKNOWN,
            "the connection broke before the whole answer came",
        ),
        (
            aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"),
            Kind.UNKNOWN,
            "the connection broke before the whole answer came",
        ),
        (ResponseTooLarge("too big"), Kind.UNKNOWN, "unreadable answer: too big"),
        (json.JSONDecodeError("x", "<html>", 0), Kind.UNKNOWN, "unreadable answer: not JSON"),
        (RuntimeError("bug"), Kind.UNKNOWN, "unexpected error (RuntimeError)"),
    ],
)
def test_transport_failures(exc: BaseException, kind: Kind, reason: str) -> None:
    verdict = classify(exc)
    assert (verdict.kind, verdict.reason, verdict.error_code) == (kind, reason, "")
    assert "10.1.2.3" not in verdict.reason
