"""Twilio channel values: SIDs, auth tokens, sender numbers and API base URLs. Pure: each
check returns a Problem or None; `phone_number` also gives the normalised form."""

import ipaddress
import re
from urllib.parse import urlsplit

import phonenumbers

from db.errors import ErrorCode, Problem

ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")
# Twilio's tokens are 32 hex characters; compatible endpoints (SignalWire's "PT…") are
# longer. Printable ASCII without spaces: it travels in a Basic auth header.
AUTH_TOKEN = re.compile(r"[\x21-\x7e]{1,255}")
MAX_AUTH_TOKEN_LENGTH = 255
# A number as people type it: +, digits and the usual separators; letters (vanity numbers)
# and anything else are refused before phonenumbers reads it.
_TYPED_NUMBER = re.compile(r"\+[0-9][0-9 ().-]{5,30}")
MAX_URL_LENGTH = 255
# A path prefix (a compatible endpoint's, e.g. /api/laml): plain segments only.
_PATH = re.compile(r"(?:/[A-Za-z0-9._~-]+)*/?")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
LOOPBACK_NAMES = frozenset({"localhost"})


def sid(value: str, pattern: re.Pattern[str], prefix: str, field: str) -> Problem | None:
    if not value:
        return Problem(ErrorCode.REQUIRED, f"{field} is required.", (field,))
    if len(value) > 34:
        return Problem(ErrorCode.TOO_LONG, f"{field} must be 34 characters.", (field,))
    if not pattern.fullmatch(value):
        return Problem(
            ErrorCode.INVALID,
            f"{field} must be {prefix} followed by 32 lowercase hexadecimal digits.",
            (field,),
        )
    return None


def auth_token(value: str, field: str) -> Problem | None:
    if not value:
        return Problem(ErrorCode.REQUIRED, f"{field} is required.", (field,))
    if len(value) > MAX_AUTH_TOKEN_LENGTH:
        return Problem(
            ErrorCode.TOO_LONG,
            f"{field} must be at most {MAX_AUTH_TOKEN_LENGTH} characters.",
            (field,),
        )
    if not AUTH_TOKEN.fullmatch(value):
        return Problem(
            ErrorCode.INVALID,
            f"{field} may hold only printable ASCII characters without spaces.",
            (field,),
        )
    return None


def phone_number(value: str, field: str) -> tuple[str | None, Problem | None]:
    """`value` in E.164 ("+14155550123"), or why it is not a valid number."""
    if not value:
        return None, Problem(ErrorCode.REQUIRED, f"{field} is required.", (field,))
    if len(value) > 32:
        too_long = f"{field} must be at most 32 characters."
        return None, Problem(ErrorCode.TOO_LONG, too_long, (field,))
    invalid = Problem(
        ErrorCode.INVALID,
        f"{field} must be a phone number in international form, such as +14155550123 "
        '(without a "whatsapp:" prefix).',
        (field,),
    )
    if not _TYPED_NUMBER.fullmatch(value):
        return None, invalid
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None, invalid
    if not phonenumbers.is_valid_number(parsed):
        return None, invalid
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_base_url(value: str, field: str) -> tuple[str | None, Problem | None]:
    """`value` without a final slash, or why it is refused: an absolute http(s) URL without
    credentials, query or fragment; https unless the host is loopback (127.0.0.0/8, ::1,
    localhost); at most 255 characters."""
    if not value:
        return None, Problem(ErrorCode.REQUIRED, f"{field} is required.", (field,))
    if len(value) > MAX_URL_LENGTH:
        return None, Problem(
            ErrorCode.TOO_LONG, f"{field} must be at most {MAX_URL_LENGTH} characters.", (field,)
        )

    def invalid(why: str) -> tuple[None, Problem]:
        return None, Problem(ErrorCode.INVALID, f"{field} {why}.", (field,))

    if not re.fullmatch(r"[\x21-\x7e]+", value):
        return invalid("must be one URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return invalid("is not a valid URL")
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or not host:
        return invalid("must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return invalid("may not hold credentials (the auth token is its own field)")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return invalid("may not hold a query or fragment")
    if "%" in host or not (_HOST.fullmatch(host) or _is_ip(host)):
        return invalid("must name a host (letters, digits, - and .) or an IP address")
    if not _PATH.fullmatch(parts.path or "/"):
        return invalid("may hold only a plain path (letters, digits, ., _, ~, - between /)")
    if parts.scheme.lower() != "https" and not is_loopback(host):
        return invalid("must use https (plain http only to a loopback host)")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}", None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
