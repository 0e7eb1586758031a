"""The Content API: templates (create, fetch, list) and their WhatsApp approval requests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.twilio_standin.auth import authenticate
from tests.twilio_standin.errors import TwilioError
from tests.twilio_standin.state import (
    MAX_CONTENTS_PER_ACCOUNT,
    Account,
    Approval,
    ApprovalPlan,
    Content,
    Store,
    iso8601,
    new_sid,
    now,
)
from tests.twilio_standin.validation import read_body, validate

BASE = "https://content.twilio.com/v1/Content"
VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]{1,16})\s*\}\}")
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
DEFAULT_PAGE_SIZE = 50
MAX_VARIABLES = 100


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def render(content: Content, variables: dict[str, str]) -> str:
    """The body a message made from `content` carries, variables filled in."""
    main = content.types.get(content.content_type) or {}
    text = main.get("body") or (content.types.get("twilio/text") or {}).get("body") or ""
    return VARIABLE.sub(lambda m: variables.get(m[1], m[0]), str(text))


def _plan(account: Account, content: Content) -> ApprovalPlan:
    return content.plan or account.approval_default


def approval_status(content: Content, account: Account) -> str:
    """The status now, without counting a fetch."""
    if content.approval is None:
        return "unsubmitted"
    return _plan(account, content).status_at(content.approval.fetches)


def _account(request: Request) -> Account:
    store: Store = request.app.state.store
    return authenticate(store, request.headers.get("authorization"), None)


def _content(request: Request, account: Account, operation: str, body: bytes = b"") -> Content:
    """The content the (validated) path names, or 404."""
    validate(
        operation,
        request.path_params,
        request.query_params.multi_items(),
        request.headers.get("content-type", ""),
        body,
    )
    sid = request.path_params.get("Sid") or request.path_params["ContentSid"]
    content = account.contents.get(sid)
    if content is None:
        raise TwilioError(20404, f"The requested resource /v1/Content/{sid} was not found")
    return content


def resource(content: Content) -> dict[str, Any]:
    url = f"{BASE}/{content.sid}"
    return {
        "account_sid": content.account_sid,
        "date_created": iso8601(content.date_created),
        "date_updated": iso8601(content.date_created),
        "friendly_name": content.friendly_name,
        "language": content.language,
        "links": {
            "approval_create": f"{url}/ApprovalRequests/whatsapp",
            "approval_fetch": f"{url}/ApprovalRequests",
        },
        "sid": content.sid,
        "types": content.types,
        "url": url,
        "variables": content.variables,
    }


def _approval(content: Content, status: str, reason: str) -> dict[str, Any]:
    approval = content.approval
    return {
        "allow_category_change": True,
        "category": approval.category if approval else "",
        "content_type": content.content_type,
        "name": approval.name if approval else "",
        "rejection_reason": reason,
        "status": status,
    }


async def create_content(request: Request) -> Response:
    account = _account(request)
    body = validate(
        "CreateContent",
        {},
        request.query_params.multi_items(),
        request.headers.get("content-type", ""),
        await read_body(request),
    ).body
    if len(account.contents) >= MAX_CONTENTS_PER_ACCOUNT:
        raise TwilioError(20001, f"Invalid parameter: at most {MAX_CONTENTS_PER_ACCOUNT} contents")
    types = body["types"]
    if len(body.get("variables") or {}) > MAX_VARIABLES:
        raise TwilioError(20001, f"Invalid parameter: at most {MAX_VARIABLES} variables")
    if not types:
        raise TwilioError(20001, "Invalid parameter: types must hold at least one type")
    content = Content(
        sid=new_sid("HX"),
        account_sid=account.sid,
        friendly_name=body.get("friendly_name") or "",
        language=body["language"],
        variables=body.get("variables") or {},
        types=types,
        date_created=now(),
        uses=frozenset(m[1] for s in _strings(types) for m in VARIABLE.finditer(s)),
    )
    account.contents[content.sid] = content
    return JSONResponse(resource(content), status_code=201)


async def fetch_content(request: Request) -> Response:
    account = _account(request)
    return JSONResponse(resource(_content(request, account, "FetchContent")))


async def list_contents(request: Request) -> Response:
    """Newest first, paged with a cursor PageToken (the last SID of the previous page)."""
    account = _account(request)
    params = validate("ListContent", {}, request.query_params.multi_items(), "", b"").params
    page_size, page = params.get("PageSize", DEFAULT_PAGE_SIZE), params.get("Page", 0)
    everything = list(reversed(account.contents.values()))
    start = 0
    token = params.get("PageToken")
    if token is not None:
        sids = [c.sid for c in everything]
        if not token.startswith("PA") or token[2:] not in sids:
            raise TwilioError(20001, "Invalid parameter: PageToken")
        start = sids.index(token[2:]) + 1
    found = everything[start : start + page_size]
    more = start + page_size < len(everything)

    def url(number: int, page_token: str | None = None) -> str:
        query: dict[str, str | int] = {"PageSize": page_size, "Page": number}
        if page_token:
            query["PageToken"] = page_token
        return f"{BASE}?{urlencode(query)}"

    return JSONResponse(
        {
            "contents": [resource(c) for c in found],
            "meta": {
                "first_page_url": url(0),
                "key": "contents",
                "next_page_url": url(page + 1, "PA" + found[-1].sid) if more else None,
                "page": page,
                "page_size": page_size,
                "previous_page_url": None if page == 0 else url(page - 1),
                "url": url(page, token),
            },
        }
    )


async def create_approval(request: Request) -> Response:
    account = _account(request)
    raw = await read_body(request)
    content = _content(request, account, "CreateApprovalCreate", raw)
    body = json.loads(raw)  # validated above
    if not TEMPLATE_NAME.fullmatch(body["name"]):
        raise TwilioError(20001, "Invalid parameter: name: lowercase letters, digits and _")
    if body["category"] not in CATEGORIES:
        raise TwilioError(20001, f"Invalid parameter: category must be one of {CATEGORIES}")
    if content.approval is not None:
        raise TwilioError(20001, "Invalid parameter: this content was already submitted")
    content.approval = Approval(name=body["name"], category=body["category"])
    plan = _plan(account, content)
    status = plan.status_at(0)
    return JSONResponse(
        _approval(content, status, plan.rejection_reason if status == "rejected" else ""),
        status_code=201,
    )


async def fetch_approvals(request: Request) -> Response:
    """Each fetch moves a submitted request along its plan: received → pending → outcome."""
    account = _account(request)
    content = _content(request, account, "FetchApprovalFetch")
    if content.approval is None:
        status, reason = "unsubmitted", ""
    else:
        content.approval.fetches += 1
        plan = _plan(account, content)
        status = plan.status_at(content.approval.fetches)
        reason = plan.rejection_reason if status in ("rejected", "paused", "disabled") else ""
    return JSONResponse(
        {
            "account_sid": account.sid,
            "sid": content.sid,
            "url": f"{BASE}/{content.sid}/ApprovalRequests",
            "whatsapp": {"type": "whatsapp", **_approval(content, status, reason)},
        }
    )
