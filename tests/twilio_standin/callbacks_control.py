"""The control API's status-callback and inbound routes (documented in __init__.py)."""

from __future__ import annotations

import re
from dataclasses import asdict, fields, replace
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.twilio_standin import inbound
from tests.twilio_standin.callbacks import FINALS, Dispatcher, Plan, error_message
from tests.twilio_standin.control import (
    MAX_ENTRIES,
    SENDER,
    ControlError,
    _account,
    _json,
    _store,
)
from tests.twilio_standin.state import Account, Message
from tests.twilio_standin.validation import MAX_FIELDS

STATUSES = (
    "queued", "sending", "sent", "failed", "delivered", "undelivered", "receiving",
    "received", "accepted", "scheduled", "read", "partially_delivered", "canceled",
)  # fmt: skip
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
MAX_TEXT = 1_600
MAX_URL = 2_000
MAX_MEDIA = 10
PROBABILITIES = ("duplicate", "out_of_order", "drop")


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.callbacks
    return dispatcher


def _number(value: object, key: str = "number") -> str:
    if not isinstance(value, str) or not SENDER.fullmatch(value):
        raise ControlError(f"{key} must be +E.164 or whatsapp:+E.164")
    return value


def _seconds(value: object, key: str, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise ControlError(f"{key} must be a number of seconds in 0..{high}")
    return float(value)


def _error_code(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 10000 <= value <= 99999:
        raise ControlError("error_code must be null or a 5-digit Twilio error code")
    return value


def _plan_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The plan fields a body sets, checked (a probability may be given as true/false)."""
    known = {f.name for f in fields(Plan)} | {"delay", "number"}
    unknown = set(body) - known - {"retry_delay_seconds", "timeout_seconds", "paused"}
    if unknown:
        raise ControlError(f"unknown fields: {sorted(unknown)[:5]}")
    out: dict[str, Any] = {}
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ControlError("enabled must be true or false")
        out["enabled"] = body["enabled"]
    if "delay" in body:
        delay = body["delay"]
        if not isinstance(delay, list) or len(delay) != 2:
            raise ControlError("delay must be [min, max] seconds")
        low, high = (_seconds(d, "delay", 600) for d in delay)
        if low > high:
            raise ControlError("delay must be [min, max] with min <= max")
        out["delay_min"], out["delay_max"] = low, high
    for key in PROBABILITIES:
        if key in body:
            value = body[key]
            if isinstance(value, bool):
                value = 1.0 if value else 0.0
            out[key] = _seconds(value, key, 1)  # a probability 0..1
    if "late_seconds" in body:
        out["late_seconds"] = _seconds(body["late_seconds"], "late_seconds", 600)
    if "final" in body:
        if body["final"] is not None and body["final"] not in FINALS:
            raise ControlError(f"final must be null or one of {FINALS}")
        out["final"] = body["final"]
    if "error_code" in body:
        out["error_code"] = _error_code(body["error_code"])
    if "reply_every" in body:
        every = body["reply_every"]
        if isinstance(every, bool) or not isinstance(every, int) or not 0 <= every <= 1_000_000:
            raise ControlError("reply_every must be a whole number in 0..1000000")
        out["reply_every"] = every
    if "reply_url" in body:
        out["reply_url"] = None if body["reply_url"] is None else _url(body, "reply_url")
    if "reply_body" in body:
        out["reply_body"] = _text(body, "reply_body") or ""
    return out


def _settings(account: Account, dispatcher: Dispatcher) -> dict[str, Any]:
    settings = account.callbacks
    return {
        "paused": not dispatcher.gate(account.sid).is_set(),
        "plan": asdict(settings.plan),
        "numbers": settings.numbers,
        "retry_delay_seconds": settings.delivery.retry_delay,
        "timeout_seconds": settings.delivery.timeout,
    }


async def set_plan(request: Request) -> Response:
    """The account's default: enabled, delay, duplicate, out_of_order, late_seconds, drop,
    final, error_code, retry_delay_seconds, timeout_seconds, paused (only those given
    change)."""
    account, body = _account(request), await _json(request)
    if "number" in body:
        raise ControlError("number belongs to /callback_numbers")
    paused = body.get("paused")
    if paused is not None and not isinstance(paused, bool):
        raise ControlError("paused must be true or false")
    settings = account.callbacks
    plan = replace(settings.plan, **_plan_fields(body))
    delivery = settings.delivery
    if "retry_delay_seconds" in body:
        delivery = replace(delivery, retry_delay=_seconds(body["retry_delay_seconds"], "r", 60))
    if "timeout_seconds" in body:
        delivery = replace(delivery, timeout=_seconds(body["timeout_seconds"], "timeout", 60))
    settings.plan, settings.delivery = plan, delivery
    if paused is not None:
        _dispatcher(request).pause(account.sid, paused)
    return JSONResponse(_settings(account, _dispatcher(request)))


async def get_plan(request: Request) -> Response:
    return JSONResponse(_settings(_account(request), _dispatcher(request)))


async def set_number(request: Request) -> Response:
    """{"number": "+1…", "final": "undelivered", "error_code": 30003, …}: that number's
    messages follow these fields over the account's plan; {"number", "clear": true} drops it."""
    account, body = _account(request), await _json(request)
    number = _number(body.get("number")).removeprefix("whatsapp:")
    numbers = account.callbacks.numbers
    if body.pop("clear", False) is True:
        numbers.pop(number, None)
        return JSONResponse(_settings(account, _dispatcher(request)))
    if {"retry_delay_seconds", "timeout_seconds", "paused"} & set(body):
        raise ControlError("retry_delay_seconds, timeout_seconds and paused are the account's")
    override = _plan_fields(body)
    if number not in numbers and len(numbers) >= MAX_ENTRIES:
        raise ControlError(f"at most {MAX_ENTRIES} numbers")
    numbers[number] = numbers.get(number, {}) | override
    return JSONResponse(_settings(account, _dispatcher(request)))


async def list_callbacks(request: Request) -> Response:
    """Every attempt (oldest first), filtered by account_sid, message_sid or status; the
    answers the plan's `reply_every` posted (of the account_sid's messages when given);
    `pending` counts the lifecycles and posts still to run (0: all done)."""
    query = request.query_params
    records = _dispatcher(request).records
    for key, field_name in (
        ("account_sid", "account_sid"),
        ("message_sid", "message_sid"),
        ("status", "message_status"),
    ):
        if key in query:
            records = [r for r in records if r[field_name] == query[key]]
    account_sid = query.get("account_sid")
    dispatcher = _dispatcher(request)
    pending = len(dispatcher.tasks.get(account_sid, ())) if account_sid else dispatcher.pending
    answers = dispatcher.answers
    if account_sid:
        answers = [a for a in answers if a["account_sid"] == account_sid]
    return JSONResponse({"callbacks": records, "answers": answers, "pending": pending})


def _message(request: Request) -> tuple[Account, Message]:
    sid = request.path_params["sid"]
    for account in _store(request).accounts.values():
        message = account.by_sid.get(sid)
        if message is not None:
            return account, message
    raise ControlError("no such message", 404)


async def set_status(request: Request) -> Response:
    """{"status": "delivered", "error_code": null}: the message's stored status (what a fetch
    reads), with no callback — a callback Twilio never sent."""
    (_, message), body = _message(request), await _json(request)
    status = body.get("status")
    if status not in STATUSES:
        raise ControlError(f"status must be one of {STATUSES}")
    code = _error_code(body.get("error_code"))
    message.advance(status, code, error_message(code) if code else None)
    if code is None:
        message.error_code = message.error_message = None
    return JSONResponse(message.resource())


def _text(body: dict[str, Any], key: str, limit: int = MAX_TEXT) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise ControlError(f"{key} must be a string of at most {limit} characters, no NUL")
    return value


def _url(body: dict[str, Any], key: str = "url") -> str:
    url = _text(body, key, MAX_URL)
    if url is None:
        raise ControlError(f"{key} is required (the channel's inboundUrl)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ControlError(f"{key} must be an http(s) URL")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ControlError(f"{key} must not hold spaces or control characters")
    return url


def _media(body: dict[str, Any]) -> list[tuple[str, str]]:
    items = body.get("media") or []
    if not isinstance(items, list) or len(items) > MAX_MEDIA:
        raise ControlError(f"media must be a list of at most {MAX_MEDIA}")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ControlError('media items are {"url": …, "content_type": …}')
        url, kind = _url(item), _text(item, "content_type", 100) or "image/jpeg"
        out.append((url, kind))
    return out


def _inbound(body: dict[str, Any], **given: Any) -> inbound.Inbound:
    known = {
        "url", "from", "to", "body", "media", "profile_name", "button_payload", "button_text",
        "message_type", "reply_to",
    }  # fmt: skip
    unknown = set(body) - known
    if unknown or len(body) > MAX_FIELDS:
        raise ControlError(f"unknown fields: {sorted(unknown)[:5]}")
    fields_ = {
        "url": _url(body),
        "body": _text(body, "body") or "",
        "media": _media(body),
        "profile_name": _text(body, "profile_name", 200),
        "button_payload": _text(body, "button_payload", 256),
        "button_text": _text(body, "button_text", 256),
        "message_type": _text(body, "message_type", 40),
    }
    return inbound.Inbound(**(fields_ | given))


async def post_inbound(request: Request) -> Response:
    """{"url", "from", "to", "body"?, …}: post a signed inbound message; `reply_to` (a message
    SID of the account) adds OriginalRepliedMessageSid and its sender."""
    account, body = _account(request), await _json(request)
    sender, to = _number(body.get("from"), "from"), _number(body.get("to"), "to")
    if sender.startswith("whatsapp:") != to.startswith("whatsapp:"):
        raise ControlError("from and to must be on the same channel")
    if to not in account.senders:
        raise ControlError("to must be one of the account's senders", 400)
    replied = _text(body, "reply_to", 34)
    replied_sender = None
    if replied is not None and not sender.startswith("whatsapp:"):
        raise ControlError("reply_to is WhatsApp's: an SMS carries no OriginalRepliedMessageSid")
    if replied is not None:
        original = account.by_sid.get(replied)
        if original is None:
            raise ControlError("reply_to: no such message in this account", 404)
        replied_sender = original.from_ or to
    message = _inbound(
        body, from_=sender, to=to, replied_sid=replied, replied_sender=replied_sender
    )
    result = await inbound.post(_dispatcher(request).session(), account, message)
    return JSONResponse(result)


async def reply(request: Request) -> Response:
    """{"url", "body"?, "button_payload"?, …}: the message's recipient answers it (From its
    To, To its sender, OriginalRepliedMessageSid its SID)."""
    (account, original), body = _message(request), await _json(request)
    if {"from", "to", "reply_to"} & set(body):
        raise ControlError("from, to and reply_to come from the message")
    message = _inbound(body, **inbound.answering(account, original))
    result = await inbound.post(_dispatcher(request).session(), account, message)
    return JSONResponse(result)


_A = "/_standin/accounts/{account_sid}"
ROUTES = [
    Route(_A + "/callback_plan", set_plan, methods=["PUT"]),
    Route(_A + "/callback_plan", get_plan, methods=["GET"]),
    Route(_A + "/callback_numbers", set_number, methods=["POST"]),
    Route(_A + "/inbound", post_inbound, methods=["POST"]),
    Route("/_standin/callbacks", list_callbacks, methods=["GET"]),
    Route("/_standin/messages/{sid}/status", set_status, methods=["POST"]),
    Route("/_standin/messages/{sid}/reply", reply, methods=["POST"]),
]
