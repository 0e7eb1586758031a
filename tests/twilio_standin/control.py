"""The stand-in's own JSON API under `/_standin/`: accounts, failure injection, approval
plans, and what was sent. No auth: it listens on loopback for tests and people."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.twilio_standin.errors import KNOWN
from tests.twilio_standin.state import APPROVAL_OUTCOMES, Account, ApprovalPlan, Message, Store

SID = re.compile(r"(AC|MG)[0-9a-fA-F]{32}")  # Twilio's own patterns
TOKEN = re.compile(r"[0-9A-Za-z_-]{8,64}")
SENDER = re.compile(r"(?:whatsapp:)?\+[1-9][0-9]{6,14}")
MAX_JSON = 64 * 1024
MAX_LIST = 100
MAX_ENTRIES = 100_000


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def error_response(error: ControlError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=error.status)


async def _json(request: Request) -> dict[str, Any]:
    if int(request.headers.get("content-length") or 0) > MAX_JSON:
        raise ControlError("body too large", 413)
    raw = await request.body()
    if len(raw) > MAX_JSON:
        raise ControlError("body too large", 413)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ControlError("the body is not JSON") from error
    if not isinstance(value, dict):
        raise ControlError("the body must be a JSON object")
    return value


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _account(request: Request) -> Account:
    account = _store(request).accounts.get(request.path_params["account_sid"])
    if account is None:
        raise ControlError("no such account", 404)
    return account


def _int(body: dict[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError(f"{key} must be an integer in {low}..{high}")
    return value


def _code(body: dict[str, Any]) -> int | None:
    code = body.get("error")
    if code is None:
        return None
    if isinstance(code, bool) or code not in KNOWN:
        raise ControlError(f"error must be null or one of {sorted(KNOWN)}")
    return int(code)


def _strings(body: dict[str, Any], key: str, pattern: re.Pattern[str]) -> list[str] | None:
    values = body.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or len(values) > MAX_LIST:
        raise ControlError(f"{key} must be a list of at most {MAX_LIST}")
    for value in values:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ControlError(f"{key}: {str(value)[:80]!r} is not valid")
    return values


async def create_account(request: Request) -> Response:
    body = await _json(request)
    sid, token = body.get("account_sid"), body.get("auth_token")
    if sid is not None and (not isinstance(sid, str) or not SID.fullmatch(sid) or sid[:2] != "AC"):
        raise ControlError("account_sid must be AC followed by 32 hex digits")
    if token is not None and (not isinstance(token, str) or not TOKEN.fullmatch(token)):
        raise ControlError("auth_token must be 8-64 letters, digits, _ or -")
    services = _strings(body, "messaging_service_sids", SID)
    if services and any(not s.startswith("MG") for s in services):
        raise ControlError("messaging_service_sids must start with MG")
    try:
        account = _store(request).create_account(
            sid, token, _strings(body, "senders", SENDER), services
        )
    except ValueError as error:
        raise ControlError(str(error), 409) from error
    return JSONResponse(account.describe(), status_code=201)


async def get_account(request: Request) -> Response:
    return JSONResponse(_account(request).describe())


async def create_api_key(request: Request) -> Response:
    sid, secret = _store(request).create_api_key(_account(request))
    return JSONResponse({"sid": sid, "secret": secret}, status_code=201)


def _sent(message: Message) -> dict[str, Any]:
    return message.resource() | {
        "standin": {
            "content_sid": message.content_sid,
            "content_variables": message.content_variables,
            "status_callback": message.status_callback,
            "answered": message.answered,
            "received_at": message.received_at,
        }
    }


async def list_sent(request: Request) -> Response:
    """Every message of the account, oldest first (optionally `?to=` one address)."""
    account = _account(request)
    to = request.query_params.get("to")
    pool = account.messages if to is None else account.by_to.get(to, [])
    return JSONResponse({"messages": [_sent(m) for m in pool]})


async def counts(request: Request) -> Response:
    account = _account(request)
    by_to = Counter({to: len(ms) for to, ms in account.by_to.items()})
    return JSONResponse({"total": len(account.messages), "by_to": dict(by_to)})


async def number_error(request: Request) -> Response:
    """{"number": "+15005550001", "error": 21211}: creates to that number answer that error
    (the number with or without its whatsapp: prefix); "error": null clears it."""
    account, body = _account(request), await _json(request)
    number = body.get("number")
    if not isinstance(number, str) or not SENDER.fullmatch(number):
        raise ControlError("number must be +E.164 (optionally whatsapp:+E.164)")
    number = number.removeprefix("whatsapp:")
    code = _code(body)
    if code is not None and len(account.faults.number_errors) >= MAX_ENTRIES:
        raise ControlError(f"at most {MAX_ENTRIES} number errors")
    if code is None:
        account.faults.number_errors.pop(number, None)
    else:
        account.faults.number_errors[number] = code
    return JSONResponse({"number_errors": account.faults.number_errors})


async def account_error(request: Request) -> Response:
    account, body = _account(request), await _json(request)
    account.faults.account_error = _code(body)
    return JSONResponse({"account_error": account.faults.account_error})


async def throttle(request: Request) -> Response:
    account, body = _account(request), await _json(request)
    account.faults.throttle_left = _int(body, "count", 0, 1_000_000)
    return JSONResponse({"throttle_left": account.faults.throttle_left})


async def server_errors(request: Request) -> Response:
    account, body = _account(request), await _json(request)
    account.faults.server_errors_left = _int(body, "count", 0, 1_000_000)
    account.faults.server_error_status = _int(body, "status", 500, 599, 500)
    creates = body.get("create", True)
    if not isinstance(creates, bool):
        raise ControlError("create must be true or false")
    account.faults.server_error_creates = creates
    return JSONResponse({"server_errors_left": account.faults.server_errors_left})


async def odd_sids(request: Request) -> Response:
    """{"count": 1, "sid": "SM…"}: the next creates make the message but answer `sid`."""
    account, body = _account(request), await _json(request)
    sid = body.get("sid")
    if not isinstance(sid, str) or len(sid) > 100:
        raise ControlError("sid must be a string of at most 100 characters")
    account.faults.odd_sids_left = _int(body, "count", 0, 1_000_000)
    account.faults.odd_sid = sid
    return JSONResponse({"odd_sids_left": account.faults.odd_sids_left})


async def delay(request: Request) -> Response:
    account, body = _account(request), await _json(request)
    seconds = body.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 600:
        raise ControlError("seconds must be a number in 0..600")
    count = None if body.get("count") is None else _int(body, "count", 0, 1_000_000)
    account.faults.delay_seconds, account.faults.delay_left = float(seconds), count
    return JSONResponse({"seconds": seconds, "count": count})


async def window(request: Request) -> Response:
    """{"number": "whatsapp:+1…", "open": true}: the 24-hour window allows freeform bodies."""
    account, body = _account(request), await _json(request)
    number = body.get("number")
    if not isinstance(number, str) or not SENDER.fullmatch(number):
        raise ControlError("number must be whatsapp:+E.164")
    if body.get("open", True) is True:
        if len(account.open_windows) >= MAX_ENTRIES:
            raise ControlError(f"at most {MAX_ENTRIES} open windows")
        account.open_windows.add(number)
    else:
        account.open_windows.discard(number)
    return JSONResponse({"open_windows": sorted(account.open_windows)})


def _plan(body: dict[str, Any]) -> ApprovalPlan:
    outcome = body.get("status", "approved")
    if outcome not in APPROVAL_OUTCOMES:
        raise ControlError(f"status must be one of {APPROVAL_OUTCOMES}")
    reason = body.get("rejection_reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise ControlError("rejection_reason must be a string of at most 500 characters")
    return ApprovalPlan(outcome, reason, _int(body, "after_fetches", 0, 1000, 0))


async def account_approval_plan(request: Request) -> Response:
    account, body = _account(request), await _json(request)
    account.approval_default = _plan(body)
    return JSONResponse(vars(account.approval_default))


async def content_approval_plan(request: Request) -> Response:
    body, sid = await _json(request), request.path_params["content_sid"]
    for account in _store(request).accounts.values():
        if sid in account.contents:
            account.contents[sid].plan = _plan(body)
            return JSONResponse(vars(account.contents[sid].plan))
    raise ControlError("no such content", 404)


async def reset_account(request: Request) -> Response:
    account = _account(request)
    request.app.state.callbacks.cancel(account.sid)  # its pending callbacks and records
    account.reset()
    return JSONResponse({"reset": True})


async def reset(request: Request) -> Response:
    """Back to the state at start: only the sample account, with nothing sent."""
    store: Store = _store(request)
    sample = request.app.state.sample_sid
    for sid in store.accounts:
        request.app.state.callbacks.cancel(sid)
    store.accounts = {sample: store.accounts[sample]}
    store.key_owner = {k: v for k, v in store.key_owner.items() if v == sample}
    store.accounts[sample].reset()
    return JSONResponse({"reset": True})


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True, "sample_account_sid": request.app.state.sample_sid})


_A = "/_standin/accounts/{account_sid}"
ROUTES = [
    Route("/_standin/health", health, methods=["GET"]),
    Route("/_standin/reset", reset, methods=["POST"]),
    Route("/_standin/accounts", create_account, methods=["POST"]),
    Route(_A, get_account, methods=["GET"]),
    Route(_A + "/api_keys", create_api_key, methods=["POST"]),
    Route(_A + "/messages", list_sent, methods=["GET"]),
    Route(_A + "/counts", counts, methods=["GET"]),
    Route(_A + "/number_errors", number_error, methods=["POST"]),
    Route(_A + "/account_error", account_error, methods=["POST"]),
    Route(_A + "/throttle", throttle, methods=["POST"]),
    Route(_A + "/server_errors", server_errors, methods=["POST"]),
    Route(_A + "/delay", delay, methods=["POST"]),
    Route(_A + "/odd_sids", odd_sids, methods=["POST"]),
    Route(_A + "/windows", window, methods=["POST"]),
    Route(_A + "/approval_plan", account_approval_plan, methods=["PUT"]),
    Route(_A + "/reset", reset_account, methods=["POST"]),
    Route("/_standin/contents/{content_sid}/approval_plan", content_approval_plan, methods=["PUT"]),
]
