"""A request Twilio made to one of a channel's webhooks, its signature checked.

Twilio signs every webhook with the account's auth token: HMAC-SHA1 over the exact URL it
called, query string included, followed by the posted parameters sorted by name. The URL
is rebuilt from CLARION_PUBLIC_URL (behind a TLS proxy the scheme and host this process
sees are not the ones Twilio called) and checked with the twilio package's own
RequestValidator. The channel named in the query string gives the token; a request it
does not sign, or whose channel does not exist, is refused with 403 and changes nothing.
"""

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator

from db.enums import TwilioChannelType
from db.settings import Settings
from graph.hooks.hook_channels import HookChannels
from jobs.channels.twilio.hook_urls import CHANNEL_PARAM

SIGNATURE_HEADER = "X-Twilio-Signature"
# Twilio's webhook parameters are a few dozen short fields; more is not Twilio.
MAX_PARAMS = 200
# Twilio's webhooks are a couple of kilobytes; a body far bigger is not one of them.
MAX_HOOK_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def empty_twiml() -> Response:
    """The answer to a webhook Clarion took: TwiML that tells Twilio to do nothing."""
    return Response(EMPTY_TWIML, media_type="text/xml")


def forbidden() -> Response:
    """The answer to a request that is not Twilio's: 403, saying nothing more."""
    return Response(status_code=403)


class Forbidden(Exception):
    """The request is not Twilio's for the channel it names (answer 403)."""


@dataclass(frozen=True)
class TwilioHook:
    """A verified webhook request: the channel it belongs to and its parameters."""

    channel_id: int
    account_id: int
    channel_type: TwilioChannelType
    params: dict[str, str]


def _form(content_type: str, body: bytes) -> dict[str, str]:
    """The parameters of a form Twilio posts (application/x-www-form-urlencoded, UTF-8),
    read here rather than by Starlette's form parser (which needs python-multipart even
    for this kind): anything else, a repeated name or too many is not Twilio's."""
    if content_type.split(";")[0].strip().lower() != FORM_TYPE:
        raise Forbidden
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_PARAMS,
            encoding="utf-8",
            errors="strict",
        )
    except ValueError as exc:  # UnicodeDecodeError is one
        raise Forbidden from exc
    params = dict(pairs)
    if len(params) != len(pairs):
        raise Forbidden
    return params


async def _body(request: Request) -> bytes:
    """The body, when it is no bigger than a webhook's (by its declared length first)."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdecimal() or int(declared) > MAX_HOOK_BYTES):
        raise Forbidden
    try:
        body = await request.body()
    except (HTTPException, ClientDisconnect) as exc:  # e.g. over the server's own cap
        raise Forbidden from exc
    if len(body) > MAX_HOOK_BYTES:
        raise Forbidden
    return body


async def verified_hook(request: Request) -> TwilioHook:
    """The request's channel and parameters, or Forbidden."""
    raw_channel = request.query_params.get(CHANNEL_PARAM, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not (raw_channel.isascii() and raw_channel.isdigit() and len(raw_channel) <= 18):
        raise Forbidden
    if not signature:
        raise Forbidden
    params = _form(request.headers.get("content-type", ""), await _body(request))
    channels: HookChannels = request.state.hook_channels
    found = await channels.get(int(raw_channel))
    if found is None:
        raise Forbidden
    settings: Settings = request.state.settings
    url = f"{settings.public_url}{request.url.path}?{request.url.query}"
    if not RequestValidator(found.token).validate(url, params, signature):
        raise Forbidden
    return TwilioHook(found.id, found.account_id, found.channel_type, params)
