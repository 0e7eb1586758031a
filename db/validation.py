"""Validation of values the spec constrains. Pure functions: each returns a Problem or None.

Use cases gather the problems of a whole input, so a client sees every mistake at once.
"""

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from db.errors import DomainError, ErrorCode, Problem

# Pragmatic address check (what the SMTP envelope needs); deliverability is the server's job.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CHANNEL_CODE = re.compile(r"^[a-z0-9_-]+$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")

MAX_TAGS = 50
MAX_TAG_LENGTH = 100
_jinja = SandboxedEnvironment()


class Problems:
    """Collects problems; `raise_if_any()` refuses the request with all of them."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, problem: Problem | None) -> None:
        if problem is not None:
            self.items.append(problem)

    def raise_if_any(self) -> None:
        if self.items:
            raise DomainError(self.items)


def required(value: str, field: str) -> Problem | None:
    if not value.strip():
        return Problem(ErrorCode.REQUIRED, f"{field} is required.", (field,))
    return None


def max_length(value: str, limit: int, field: str) -> Problem | None:
    if len(value) > limit:
        return Problem(ErrorCode.TOO_LONG, f"{field} must be at most {limit} characters.", (field,))
    return None


def text(value: str, limit: int, field: str, *, needed: bool = False) -> Problem | None:
    return (required(value, field) if needed else None) or max_length(value, limit, field)


def email(value: str, field: str, *, needed: bool = False) -> Problem | None:
    if not value:
        return required(value, field) if needed else None
    if len(value) > 254 or not _EMAIL.match(value):
        return Problem(ErrorCode.INVALID, f"{field} is not a valid email address.", (field,))
    return None


def in_range(value: int | None, low: int, high: int, field: str) -> Problem | None:
    if value is not None and not low <= value <= high:
        return Problem(
            ErrorCode.OUT_OF_RANGE, f"{field} must be between {low} and {high}.", (field,)
        )
    return None


def future_instant(value: datetime | None, now: datetime, field: str) -> Problem | None:
    """An aware datetime after `now`; a time without a UTC offset is ambiguous, so refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        return Problem(
            ErrorCode.INVALID, f"{field} needs a UTC offset, e.g. 2030-01-01T09:00:00Z.", (field,)
        )
    if value <= now:
        return Problem(ErrorCode.INVALID, f"{field} must be in the future.", (field,))
    try:
        # Stored in UTC: 9999-12-31T23:00:00-05:00 is a valid input but no UTC datetime.
        value.astimezone(UTC)
    except OverflowError:
        return Problem(
            ErrorCode.OUT_OF_RANGE, f"{field} must be before 9999-12-31T23:59:59Z.", (field,)
        )
    return None


def slug(value: str, limit: int, field: str) -> Problem | None:
    if len(value) > limit:
        return max_length(value, limit, field)
    if not _SLUG.match(value):
        return Problem(
            ErrorCode.INVALID,
            f"{field} must be lowercase letters and digits separated by single hyphens.",
            (field,),
        )
    return None


def channel_code(value: str, field: str) -> Problem | None:
    if not value:
        return required(value, field)
    if len(value) > 50:
        return max_length(value, 50, field)
    if not _CHANNEL_CODE.match(value):
        return Problem(
            ErrorCode.INVALID, f"{field} may contain only letters, digits, - and _.", (field,)
        )
    return None


def e164(value: str, field: str) -> Problem | None:
    if value and not _E164.match(value):
        return Problem(
            ErrorCode.INVALID, f"{field} must be an E.164 number such as +14155550123.", (field,)
        )
    return None


def currency(value: str, field: str) -> Problem | None:
    if not _CURRENCY.match(value):
        return Problem(
            ErrorCode.INVALID, f"{field} must be a 3-letter ISO 4217 code such as USD.", (field,)
        )
    return None


def country(value: str, field: str) -> Problem | None:
    if value and not _COUNTRY.match(value):
        return Problem(
            ErrorCode.INVALID, f"{field} must be a 2-letter ISO 3166 code such as US.", (field,)
        )
    return None


def tags(values: Iterable[str], field: str, *, needed: bool = False) -> Problem | None:
    values = list(values)
    if needed and not values:
        return Problem(ErrorCode.REQUIRED, f"{field} needs at least one tag.", (field,))
    if len(values) > MAX_TAGS:
        return Problem(ErrorCode.TOO_MANY, f"{field} may hold at most {MAX_TAGS} tags.", (field,))
    for tag in values:
        if not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            return Problem(
                ErrorCode.INVALID,
                f"Each of {field} must be 1 to {MAX_TAG_LENGTH} characters.",
                (field,),
            )
    return None


def jinja_template(source: str, field: str) -> Problem | None:
    try:
        _jinja.parse(source)
    except TemplateSyntaxError as exc:
        return Problem(
            ErrorCode.TEMPLATE_SYNTAX,
            f"{field} is not a valid Jinja2 template (line {exc.lineno}: {exc.message}).",
            (field,),
        )
    return None


def money_cents(value: Decimal, max_digits: int, field: str) -> tuple[int | None, Problem | None]:
    """A positive amount with at most 2 decimal places, as integer cents."""
    try:
        exponent = value.as_tuple().exponent
        if not value.is_finite() or value <= 0:
            return None, Problem(ErrorCode.INVALID, f"{field} must be greater than 0.", (field,))
        # Judged by its exponent before any arithmetic: 1E+999999 * 100 overflows the decimal
        # context, and int() of 9E+999990 takes a minute of CPU, blocking the event loop.
        if value.adjusted() + 3 > max_digits:
            return None, _too_many_digits(field, max_digits)
        if isinstance(exponent, int) and exponent < -2 and value != value.quantize(Decimal("0.01")):
            return None, Problem(
                ErrorCode.INVALID, f"{field} may have at most 2 decimal places.", (field,)
            )
        cents = int(value * 100)
    except InvalidOperation:
        return None, Problem(ErrorCode.INVALID, f"{field} is not a number.", (field,))
    if cents >= 10**max_digits:
        return None, _too_many_digits(field, max_digits)
    return cents, None


def _too_many_digits(field: str, max_digits: int) -> Problem:
    return Problem(
        ErrorCode.OUT_OF_RANGE, f"{field} may have at most {max_digits} digits.", (field,)
    )


def normalize_tags(values: Iterable[str]) -> list[str]:
    """Trimmed, de-duplicated, order kept."""
    return list(dict.fromkeys(v.strip() for v in values))


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100].strip("-") or "audience"
