"""The Messages resource: create, fetch and list, as Twilio's 2010 API answers them."""

from __future__ import annotations

import asyncio
import json
import re
import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import phonenumbers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.twilio_standin import segments
from tests.twilio_standin.auth import authenticate
from tests.twilio_standin.content import approval_status, render
from tests.twilio_standin.errors import TwilioError
from tests.twilio_standin.state import (
    MAX_MESSAGES_PER_ACCOUNT,
    Account,
    Message,
    Store,
    new_sid,
    now,
)
from tests.twilio_standin.validation import read_body, validate

ADDRESS = re.compile(r"(?:(whatsapp):)?(\+[1-9][0-9]{6,14})")
MAX_BODY = 1_600
MAX_VARIABLE = 1_600
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Address:
    channel: str  # "sms" or "whatsapp"
    number: str  # E.164

    @property
    def text(self) -> str:
        return self.number if self.channel == "sms" else f"{self.channel}:{self.number}"


@lru_cache(maxsize=4096)  # senders repeat on every create; phonenumbers.parse is ~60 µs
def parse_address(value: str) -> Address | None:
    match = ADDRESS.fullmatch(value)
    if match is None:
        return None
    try:
        possible = phonenumbers.is_possible_number(phonenumbers.parse(match[2]))
    except phonenumbers.NumberParseException:
        return None
    return Address(match[1] or "sms", match[2]) if possible else None


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _content_variables(raw: str | None) -> dict[str, str]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise TwilioError(21656) from error
    if not isinstance(value, dict) or len(value) > 100:
        raise TwilioError(21656)
    out = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise TwilioError(21656)
        out[key] = str(item)
        if len(out[key]) > MAX_VARIABLE:
            raise TwilioError(21656)
    return out


def _sender(account: Account, fields: dict[str, Any], to: Address) -> tuple[str | None, str | None]:
    """(from, messaging_service_sid) once both belong to the account and match To's channel."""
    service = fields.get("MessagingServiceSid")
    if service is not None and service not in account.services:
        raise TwilioError(21701)
    sender = fields.get("From")
    if sender is None:
        if service is None:
            raise TwilioError(21603)
        return None, service
    address = parse_address(sender)
    if address is not None and address.channel != to.channel:
        raise TwilioError(21910)
    if sender not in account.senders:
        raise TwilioError(63007 if to.channel == "whatsapp" else 21606)
    return sender, service


def _build(account: Account, fields: dict[str, Any]) -> tuple[Message, bool]:
    """The message a create makes, and whether WhatsApp will fail it as freeform (63016)."""
    to = parse_address(fields["To"])
    if to is None:
        raise TwilioError(21211)
    injected = account.faults.number_errors.get(to.number)
    if injected is not None:
        raise TwilioError(injected)
    if to.channel == "sms" and to.number in account.opted_out:
        raise TwilioError(21610)  # the number texted STOP to the account
    sender, service = _sender(account, fields, to)
    media = fields.get("MediaUrl") or []
    content_sid = fields.get("ContentSid")
    variables: dict[str, str] | None = None
    if content_sid is not None:
        content = account.contents.get(content_sid)
        if content is None:
            raise TwilioError(21655)
        variables = content.variables | _content_variables(fields.get("ContentVariables"))
        if any(not variables.get(name) for name in content.uses):
            raise TwilioError(21656)
        body = render(content, variables)
        template_ok = approval_status(content, account) == "approved"
    else:
        body = fields.get("Body") or ""
        if not body and not media:
            raise TwilioError(21602)
        if len(body) > MAX_BODY:
            raise TwilioError(21617)
        template_ok = False
    freeform = to.channel == "whatsapp" and not template_ok and to.text not in account.open_windows
    message = Message(
        seq=account.next_seq,
        sid=new_sid("MM" if media else "SM"),
        account_sid=account.sid,
        to=to.text,
        from_=sender,
        messaging_service_sid=service,
        body=body,
        status="accepted" if service is not None else "queued",
        num_segments=segments.count(body) if to.channel == "sms" and not service else 1,
        num_media=len(media),
        date_created=now(),
        content_sid=content_sid,
        content_variables=variables,
        status_callback=fields.get("StatusCallback"),
    )
    if service is not None and sender is None:
        message.num_segments = 0  # Twilio reads 0 until a sender is picked
    account.next_seq += 1
    return message, freeform


async def create_message(request: Request) -> Response:
    received_at = clock.time()
    account_sid = request.path_params["AccountSid"]
    account = authenticate(_store(request), request.headers.get("authorization"), account_sid)
    faults = account.faults
    if faults.throttle_left > 0:
        faults.throttle_left -= 1
        raise TwilioError(20429)
    raw = await read_body(request)
    checked = validate(
        "CreateMessage",
        request.path_params,
        request.query_params.multi_items(),
        request.headers.get("content-type", ""),
        raw,
    )
    if faults.account_error is not None:
        raise TwilioError(faults.account_error)
    if len(account.messages) >= MAX_MESSAGES_PER_ACCOUNT:
        raise TwilioError(21611)
    if faults.server_errors_left > 0 and not faults.server_error_creates:
        faults.server_errors_left -= 1
        raise TwilioError(20500, status=faults.server_error_status)
    message, freeform = _build(account, checked.body)
    message.received_at = received_at
    account.add_message(message)
    answer = message.resource()
    if faults.odd_sids_left > 0:  # a broken or hostile API's answer
        faults.odd_sids_left -= 1
        answer["sid"] = faults.odd_sid
    if freeform:  # accepted now, failed by WhatsApp a moment later (the callback says so)
        message.status, message.error_code = "failed", 63016
        message.error_message = TwilioError(63016).message
    if message.status_callback is not None:
        request.app.state.callbacks.track(account, message)
    if faults.server_errors_left > 0:
        faults.server_errors_left -= 1
        message.answered = faults.server_error_status
        raise TwilioError(20500, status=faults.server_error_status)
    if faults.delay_seconds > 0 and (faults.delay_left is None or faults.delay_left > 0):
        if faults.delay_left is not None:
            faults.delay_left -= 1
        await asyncio.sleep(faults.delay_seconds)
    return JSONResponse(answer, status_code=201)


async def fetch_message(request: Request) -> Response:
    account = authenticate(
        _store(request), request.headers.get("authorization"), request.path_params["AccountSid"]
    )
    validate("FetchMessage", request.path_params, request.query_params.multi_items(), "", b"")
    message = account.by_sid.get(request.path_params["Sid"])
    if message is None:
        raise TwilioError(20404, f"The requested resource {request.url.path} was not found")
    return JSONResponse(message.resource())


def _bounds(value: str) -> tuple[datetime, datetime]:
    """The first and last second a DateSent value names: a whole day for `YYYY-MM-DD`, one
    second for an ISO 8601 date-time."""
    if len(value) == 10:
        first = datetime.combine(date.fromisoformat(value), time(), UTC)
        return first, first + timedelta(days=1, seconds=-1)
    moment = datetime.fromisoformat(value)
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return moment, moment


def _date_window(params: dict[str, Any]) -> tuple[datetime, datetime] | None:
    """Inclusive bounds on date_sent from DateSent (its whole day), DateSent< and DateSent>."""
    if not any(k in params for k in ("DateSent", "DateSent<", "DateSent>")):
        return None
    low, high = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    if "DateSent" in params:
        day = _bounds(params["DateSent"])[0].date().isoformat()
        low, high = _bounds(day)
    if "DateSent>" in params:
        low = max(low, _bounds(params["DateSent>"])[0])
    if "DateSent<" in params:
        high = min(high, _bounds(params["DateSent<"])[1])
    return low, high


async def list_messages(request: Request) -> Response:
    """Newest first; DateSent matches the day of its value (the twilio package sends a date as
    `YYYY-MM-DDT00:00:00Z`), `DateSent<` and `DateSent>` include their bound, a day or a
    second; pages chain with a cursor PageToken like Twilio's."""
    account_sid = request.path_params["AccountSid"]
    account = authenticate(_store(request), request.headers.get("authorization"), account_sid)
    params = validate(
        "ListMessage", request.path_params, request.query_params.multi_items(), "", b""
    ).params
    to, sender = params.get("To"), params.get("From")
    window = _date_window(params)
    page_size = params.get("PageSize", DEFAULT_PAGE_SIZE)
    page = params.get("Page", 0)
    token = params.get("PageToken")
    cursor = account.by_sid.get(token[2:]) if token and token.startswith("PA") else None
    if token is not None and cursor is None:
        raise TwilioError(20001, "Invalid parameter: PageToken")
    pool = account.by_to.get(to, []) if to is not None else account.messages
    found: list[Message] = []
    for message in reversed(account.messages_before(pool, cursor)):
        if sender is not None and message.from_ != sender:
            continue
        if window and not window[0] <= message.date_created <= window[1]:
            continue
        found.append(message)
        if len(found) > page_size:
            break
    more = len(found) > page_size
    found = found[:page_size]
    filters = {
        k: v
        for k, v in request.query_params.items()
        if k in ("To", "From") or k.startswith("DateSent")
    }
    base = f"/2010-04-01/Accounts/{account.sid}/Messages.json?"

    def uri(number: int, page_token: str | None = None) -> str:
        query = {**filters, "PageSize": page_size, "Page": number}
        if page_token:
            query["PageToken"] = page_token
        return base + urlencode(query)

    return JSONResponse(
        {
            "end": page * page_size + len(found) - 1 if found else 0,
            "first_page_uri": uri(0),
            "messages": [m.resource() for m in found],
            "next_page_uri": uri(page + 1, "PA" + found[-1].sid) if more else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": None if page == 0 else uri(page - 1),
            "start": page * page_size,
            "uri": uri(page, token),
        }
    )
