"""Checks of single content fields (text, URL, media list, phone), appending `Problem`s.

Every length is checked before any character is looked at, so a hostile megabyte costs
one `len()`; only strings within their limit are scanned, once, without regexes.
"""

import ipaddress
from enum import Enum
from urllib.parse import urlsplit

import phonenumbers

from jobs.channels.twilio import variables
from jobs.channels.twilio.problems import Code, Problem

Path = tuple[str, ...]
URL_MAX = 2_000  # Meta's limit for a URL button; held for media URLs too
PHONE_MAX = 16  # "+" and at most 15 digits (E.164)
KEY_SHOWN = 64
_PRIVATE_SUFFIXES = (
    ".localhost",
    ".local",
    ".internal",
    ".lan",
    ".home.arpa",
)  # an unknown key longer than this is cut in the path and the message


class Vars(Enum):
    """Where a field may hold `{{…}}` variables."""

    NONE = "none"
    ANYWHERE = "anywhere"
    AFTER_DOMAIN = "after_domain"  # media URLs: anywhere after the host
    AT_END = "at_end"  # URL buttons: one variable, the very end of the URL


def text(
    out: list[Problem],
    path: Path,
    value: object,
    *,
    limit: int,
    required: bool,
    multiline: bool = False,
    allow_variables: bool = False,
    whatsapp_body: bool = False,
) -> None:
    """A string field: present when required, not blank, within `limit`, no controls."""
    if value is None:
        if required:
            out.append(Problem(path, "required", Code.REQUIRED))
        return
    if not isinstance(value, str):
        out.append(Problem(path, "must be a string", Code.INVALID_TYPE))
        return
    if len(value) > limit:
        out.append(Problem(path, f"longer than {limit} characters", Code.TOO_LONG))
        return
    if not value.strip():
        message = "must not be blank" if required else "must not be blank: leave it out instead"
        out.append(Problem(path, message, Code.REQUIRED))
        return
    if variables.control_character(value, "\n\r\t" if multiline else ""):
        what = "a control character" if multiline else "a newline or control character"
        out.append(Problem(path, f"holds {what}", Code.INVALID_CHARACTER))
        return
    rule = Vars.ANYWHERE if allow_variables else Vars.NONE
    if not variable_rules(out, path, value, rule) or not (whatsapp_body and allow_variables):
        return
    if why := variables.position_problem(value):
        out.append(Problem(path, why, Code.VARIABLE_POSITION))


def variable_rules(out: list[Problem], path: Path, value: str, rule: Vars) -> bool:
    """Problems with the `{{…}}` in `value` under `rule`; True when there were none."""
    found = list(variables.placeholders(value))
    for p in found:
        if p.key is None:
            shown = p.raw[: variables.KEY_MAX + 1]
            out.append(
                Problem(
                    path,
                    f"malformed variable {{{{{shown}…}}}}: a key is 1-{variables.KEY_MAX} "
                    "letters, digits or _, without spaces, and closed by }}",
                    Code.INVALID_VARIABLE,
                )
            )
            return False
    if found and rule is Vars.NONE:
        out.append(Problem(path, "this field cannot hold variables", Code.VARIABLE_NOT_ALLOWED))
        return False
    if found and rule is Vars.AT_END and (len(found) > 1 or found[0].end != len(value)):
        out.append(
            Problem(path, "a URL may hold one variable, at its very end", Code.VARIABLE_POSITION)
        )
        return False
    if (
        found
        and rule in (Vars.AT_END, Vars.AFTER_DOMAIN)
        and not _after_domain(value, found[0].start)
    ):
        out.append(
            Problem(path, "a variable may only come after the URL's domain", Code.VARIABLE_POSITION)
        )
        return False
    return True


def _after_domain(url: str, at: int) -> bool:
    # The text before the first variable must hold the whole authority: "scheme://host" then
    # a "/", "?" or "#" that ends it.
    scheme_end = url.find("://")
    if scheme_end < 0 or scheme_end + 3 >= at:
        return False
    head = url[scheme_end + 3 : at]
    return any(mark in head for mark in "/?#")


def url(out: list[Problem], path: Path, value: object, rule: Vars) -> None:
    """An absolute http(s) URL on a public host, `rule` deciding where variables may go."""
    if value is None:
        out.append(Problem(path, "required", Code.REQUIRED))
        return
    if not isinstance(value, str):
        out.append(Problem(path, "must be a string", Code.INVALID_TYPE))
        return
    if len(value) > URL_MAX:
        out.append(Problem(path, f"longer than {URL_MAX} characters", Code.TOO_LONG))
        return
    if not value:
        out.append(Problem(path, "required", Code.REQUIRED))
        return
    if variables.control_character(value) or any(ch.isspace() for ch in value):
        out.append(Problem(path, "a URL holds no spaces or control characters", Code.INVALID_URL))
        return
    if not variable_rules(out, path, value, rule):
        return
    # Check the URL as it would be with the variables filled in by a plain sample.
    sample = variables.substitute(
        value, {p.key: "x" for p in variables.placeholders(value) if p.key}
    )
    if why := _url_problem(sample):
        out.append(Problem(path, why, Code.INVALID_URL))


def _url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://"
    if "@" in parts.netloc:
        return "a URL with a user name or password is refused"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "the URL has no host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return None if address.is_global else "the host must be publicly reachable"
    if not all(ch.isalnum() or ch in "-." for ch in host):
        return "the host is not a valid domain name"
    # A public name ends in a letter TLD: this also refuses "localhost", "intranet" and
    # the numeric forms browsers read as addresses ("127.1", "0x7f.1", "2130706433").
    tld = host.rsplit(".", 1)[-1] if "." in host else ""
    if not (tld.isalpha() or tld.startswith("xn--")) or host.endswith(_PRIVATE_SUFFIXES):
        return "the host must be a public domain name"
    try:
        host.encode("idna")
    except UnicodeError:
        return "the host is not a valid domain name"
    return None


def media(
    out: list[Problem],
    path: Path,
    value: object,
    *,
    required: bool,
    most: int,
    allow_variables: bool,
) -> None:
    """A list of public media URLs; its length is checked before any item is looked at."""
    if value is None:
        if required:
            out.append(Problem(path, "required: a list of media URLs", Code.REQUIRED))
        return
    if not isinstance(value, list):
        out.append(Problem(path, "must be a list of URLs", Code.INVALID_TYPE))
        return
    if len(value) > most:
        out.append(Problem(path, f"at most {most} media URL(s)", Code.TOO_MANY))
        return
    if not value and required:
        out.append(Problem(path, "required: at least one media URL", Code.REQUIRED))
        return
    rule = Vars.AFTER_DOMAIN if allow_variables else Vars.NONE
    for index, item in enumerate(value):
        url(out, (*path, str(index)), item, rule)


def phone(out: list[Problem], path: Path, value: object) -> None:
    """A valid phone number written exactly in E.164 (+ and digits, nothing else)."""
    if value is None:
        out.append(Problem(path, "required", Code.REQUIRED))
        return
    if not isinstance(value, str):
        out.append(Problem(path, "must be a string", Code.INVALID_TYPE))
        return
    if not value:
        out.append(Problem(path, "required", Code.REQUIRED))
        return
    if "{{" in value:
        out.append(Problem(path, "this field cannot hold variables", Code.VARIABLE_NOT_ALLOWED))
        return
    if (
        len(value) > PHONE_MAX
        or not value.startswith("+")
        or not value[1:].isdecimal()
        or not value.isascii()
    ):
        out.append(Problem(path, "must be written in E.164, like +14155550100", Code.INVALID_PHONE))
        return
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    if (
        number is None
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value
    ):
        out.append(Problem(path, "not a valid phone number in E.164", Code.INVALID_PHONE))


def shown_key(key: str) -> str:
    return key if len(key) <= KEY_SHOWN else key[:KEY_SHOWN] + "…"
