"""What Twilio's answers mean for a send: `classify(exc)` turns what
`client.messages.create_async` raised into a Verdict in the seam's vocabulary
(jobs/channels/base.py); `by_code` serves status callbacks' ErrorCode as well. Pure.

Creating a message is not idempotent: only an answer that proves Twilio did not take the
message (an error code, 429, a connection never made) may be retried blindly; a 5xx, a
timeout or a broken answer after the request left is UNKNOWN (look the message up before
sending again)."""

import json
import re
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from jobs.channels.base import Halt, Outcome, SendResult
from jobs.channels.network_errors import ERRNO_REASONS
from jobs.channels.twilio.http import (
    ClientClosed,
    DeadlineExceeded,
    ForeignHost,
    NoConnectionFree,
    ResponseTooLarge,
)

# Meta's messaging limit counts unique recipients over a moving 24 hours, so room comes
# back bit by bit as conversations of a day ago age out, at times Clarion cannot see (the
# business's other senders count too). Probing hourly costs one refused request an hour
# and resumes within an hour of room; waiting a whole day could waste most of one.
MESSAGING_LIMIT_RETRY_S = 3600.0
MAX_REASON_LENGTH = 300


class Kind(StrEnum):
    RETRY = "retry"  # not taken; try again later (throttled or transient)
    FAILED = "failed"  # never to be sent to this recipient
    OPTED_OUT = "opted_out"  # the recipient withdrew consent for this channel
    UNKNOWN = "unknown"  # may have been taken: look it up before sending again
    HALT = "halt"  # the channel cannot send for anyone now; this message was not taken


_OUTCOMES = {
    Kind.RETRY: Outcome.RETRY,
    Kind.FAILED: Outcome.FAILED,
    Kind.OPTED_OUT: Outcome.OPTED_OUT,
    Kind.UNKNOWN: Outcome.UNKNOWN,
    Kind.HALT: Outcome.UNSENT,
}


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    # One line for people: Twilio's code and message, or what went wrong.
    reason: str
    # Twilio's error code as text ("21211"); "" when none came.
    error_code: str = ""
    # Twilio is being sent too much (429, a full sender queue): pace the channel down.
    throttled: bool = False
    # HALT: when to try again (None: the execution's usual halt delay).
    retry_after_s: float | None = None

    def result(self) -> SendResult:
        """This message's result (a HALT's message was not taken: UNSENT)."""
        return SendResult(_OUTCOMES[self.kind], self.reason, error_code=self.error_code)

    def halt(self) -> Halt | None:
        if self.kind is not Kind.HALT:
            return None
        return Halt(self.reason, self.retry_after_s)


# Twilio's codes (reference: shared/reference/twilio.md, "Error codes"). The message is
# what the code means when Twilio's own text is missing.
_THROTTLED = {
    20429: "too many requests",
    21611: "the sender's queue is full (over 10 hours of messages)",
    30001: "the queue overflowed",
}
_RETRY = {
    30003: "unreachable destination handset",
    30008: "unknown delivery error",
    30036: "expired in Twilio's queue (validity period)",
}
_FAILED = {
    21211: "invalid 'To' number",
    21612: "the 'To' number cannot be reached on this channel",
    21614: "the 'To' number is not a valid mobile number",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30007: "filtered by the carrier",
    63003: "the number is not a WhatsApp user",
    63024: "invalid message recipient",
    63032: "Meta's marketing message limit for this user",
}
_OPTED_OUT = {
    21610: "the recipient replied STOP (unsubscribed)",
    63014: "the user blocked the business or stopped its promotions",
}
_HALT = {
    20003: "authentication failed: check the account SID and auth token",
    20005: "the Twilio account is not active",
    21212: "the channel's 'From' number is invalid",
    21606: "the channel's 'From' number cannot send this message",
    21408: "sending to this region is not enabled for the account",
    63016: "WhatsApp refused a freeform message outside the 24-hour window: send an "
    "approved template",
    63018: "Meta's messaging limit for the business is reached",
}
_RETRY_AFTER = {63018: MESSAGING_LIMIT_RETRY_S}


def by_code(code: int, message: str = "", status: int | None = None) -> Verdict:
    """The verdict for Twilio error `code` (with its message and HTTP status, if any)."""
    for table, kind in (
        (_THROTTLED, Kind.RETRY),
        (_RETRY, Kind.RETRY),
        (_FAILED, Kind.FAILED),
        (_OPTED_OUT, Kind.OPTED_OUT),
        (_HALT, Kind.HALT),
    ):
        if code in table:
            return Verdict(
                kind,
                _reason(code, message or table[code], status),
                str(code),
                throttled=table is _THROTTLED,
                retry_after_s=_RETRY_AFTER.get(code),
            )
    return by_status(status, code, message)


def by_status(status: int | None, code: int | None = None, message: str = "") -> Verdict:
    """A code Clarion does not know, judged by its HTTP status."""
    label = str(code) if code is not None else ""
    reason = _reason(code, message or "no message", status)
    if status == 429:
        return Verdict(Kind.RETRY, reason, label, throttled=True)
    if status in (401, 403, 404):  # the account, its token or the base URL is wrong
        return Verdict(Kind.HALT, reason, label)
    if status is not None and 400 <= status < 500:
        return Verdict(Kind.FAILED, reason, label)
    # 5xx, a redirect, no status (a callback's code alone): it may have been taken.
    return Verdict(Kind.UNKNOWN, reason, label)


def classify(exc: BaseException) -> Verdict:
    """What an exception of `client.messages.create_async(...)` means for that message."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        status = exc.status if isinstance(exc.status, int) else None
        text = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
        code = _int(exc.code)
        if code is None or code == status:  # the package puts the status where no code came
            return by_status(status, None, _clean(text))
        return by_code(code, _clean(text), status)
    if isinstance(exc, ForeignHost):
        return Verdict(Kind.HALT, _capped(f"Twilio request refused: {exc}"))
    if isinstance(exc, ClientClosed | NoConnectionFree):
        return Verdict(Kind.RETRY, "not sent: no connection was free, or the client closed")
    if isinstance(
        exc,
        aiohttp.ClientConnectorError
        | aiohttp.ConnectionTimeoutError
        | aiohttp.InvalidURL
        | aiohttp.NonHttpUrlClientError,
    ):
        # No connection, so nothing was sent: the API is unreachable for every message,
        # as an SMTP server that cannot be reached halts an email run.
        return Verdict(Kind.HALT, f"Could not connect to the channel's API ({_why(exc)}).")
    if isinstance(exc, DeadlineExceeded):
        return Verdict(Kind.UNKNOWN, _capped(f"timed out after the request was sent: {exc}"))
    if isinstance(exc, TimeoutError):  # aiohttp's read timeouts are TimeoutErrors too
        return Verdict(Kind.UNKNOWN, "timed out after the request was sent")
    if isinstance(exc, ResponseTooLarge):
        return Verdict(Kind.UNKNOWN, _capped(f"unreadable answer: {exc}"))
    if isinstance(exc, json.JSONDecodeError | UnicodeError):
        return Verdict(Kind.UNKNOWN, "unreadable answer: not JSON")
    if isinstance(exc, aiohttp.ClientError):
        return Verdict(Kind.UNKNOWN, "the connection broke before the whole answer came")
    return Verdict(Kind.UNKNOWN, f"unexpected error ({type(exc).__name__})")


def _why(exc: BaseException) -> str:
    """Why no connection was made, naming no address, port or errno text (clients read
    it; the full error is the worker's log's)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.NonHttpUrlClientError):
        return "unsupported URL scheme"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid URL"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "host name not found"
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            break
        if isinstance(seen, socket.gaierror):
            return "host name not found"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(seen, OSError) and seen.errno in ERRNO_REASONS:
            return ERRNO_REASONS[seen.errno]
        seen = seen.__cause__ or seen.__context__
    text = str(exc).lower()
    for phrase in ("connection refused", "connect call failed"):
        if phrase in text:
            return "connection refused"
    return "connection failed"


def _int(value: object) -> int | None:
    """Twilio's code as a number; anything else (a hostile server's) is no code."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value < 10**9:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    return None


_PREFIX = re.compile(r"Unable to \w+ record: ")
_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _clean(text: object) -> str:
    """One trimmed line of text from an answer (which a hostile server writes)."""
    line = _SPACE.sub(" ", str(text or "")).strip()
    return _PREFIX.sub("", line, count=1)


def _reason(code: int | None, message: str, status: int | None) -> str:
    head = f"Twilio {code}" if code is not None else "Twilio"
    tail = f" (HTTP {status})" if status is not None else ""
    return _capped(f"{head}: {_clean(message)}{tail}")


def _capped(text: str) -> str:
    line = _clean(text)
    return line if len(line) <= MAX_REASON_LENGTH else line[: MAX_REASON_LENGTH - 1] + "…"
