"""Validation of values the spec constrains. Pure functions: each returns a Problem or None.

Use cases gather the problems of a whole input, so a client sees every mistake at once.
"""

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sized
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from db.errors import DomainError, ErrorCode, Problem

# Pragmatic address check (what the SMTP envelope needs); deliverability is the server's job.
# Every pattern is applied with `fullmatch`: `$` alone would accept a final newline, and a
# value with one ends a message's header section early.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CHANNEL_CODE = re.compile(r"[a-z0-9_-]+")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
# C0, DEL, C1 and the Unicode line and paragraph separators: none belongs in a one-line
# value (a name, a code, a tag), and some end a header line in one mail program or another.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Free text (descriptions) may hold tabs and line ends, nothing else of C0 (PostgreSQL
# refuses NUL in text at all).
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

MAX_TAGS = 50
MAX_TAG_LENGTH = 100
# Template sources: the subject is one header line (and its column is 255 wide).
MAX_SUBJECT_LENGTH = 255
MAX_BODY_LENGTH = 512 * 1024
# Renders template sources (by field) for a sample contact and answers, by field, why
# those over the render budget are (the send pipeline's renderer: db cannot import it).
TrialRender = Callable[[Mapping[str, str]], Awaitable[Mapping[str, str]]]
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 255
# Codes of audiences and templates are at most 100, of channels 50: a longer reference
# names nothing.
MAX_CODE_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 5_000

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


def too_many(values: Sized, limit: int, field: str) -> Problem | None:
    if len(values) > limit:
        return Problem(ErrorCode.TOO_MANY, f"{field} may hold at most {limit} items.", (field,))
    return None


def one_line(value: str, field: str) -> Problem | None:
    if _CONTROL.search(value):
        return Problem(
            ErrorCode.INVALID,
            f"{field} must be one line without control characters.",
            (field,),
        )
    return None


def text(value: str, limit: int, field: str, *, needed: bool = False) -> Problem | None:
    """A one-line value (a name, a code): at most `limit` characters, no control characters."""
    return (
        (required(value, field) if needed else None)
        or max_length(value, limit, field)
        or one_line(value, field)
    )


def display_name(value: str, field: str) -> Problem | None:
    """A From or Reply-To display name: one line, at most 255 characters."""
    return text(value, MAX_NAME_LENGTH, field)


def free_text(value: str, limit: int, field: str) -> Problem | None:
    """Several lines of text (a description): at most `limit` characters, no control
    characters but tabs and line ends."""
    if problem := max_length(value, limit, field):
        return problem
    if _TEXT_CONTROL.search(value):
        return Problem(
            ErrorCode.INVALID,
            f"{field} may not contain control characters other than tabs and line ends.",
            (field,),
        )
    return None


def email(value: str, field: str, *, needed: bool = False) -> Problem | None:
    if not value:
        return required(value, field) if needed else None
    if len(value) > MAX_EMAIL_LENGTH:
        return max_length(value, MAX_EMAIL_LENGTH, field)
    if not _EMAIL.fullmatch(value):
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
    if not _SLUG.fullmatch(value):
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
    if not _CHANNEL_CODE.fullmatch(value):
        return Problem(
            ErrorCode.INVALID, f"{field} may contain only letters, digits, - and _.", (field,)
        )
    return None


def e164(value: str, field: str) -> Problem | None:
    if value and not _E164.fullmatch(value):
        return Problem(
            ErrorCode.INVALID, f"{field} must be an E.164 number such as +14155550123.", (field,)
        )
    return None


def currency(value: str, field: str) -> Problem | None:
    if not _CURRENCY.fullmatch(value):
        return Problem(
            ErrorCode.INVALID, f"{field} must be a 3-letter ISO 4217 code such as USD.", (field,)
        )
    return None


def country(value: str, field: str) -> Problem | None:
    if value and not _COUNTRY.fullmatch(value):
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
        if not tag.strip() or len(tag) > MAX_TAG_LENGTH or _CONTROL.search(tag):
            return Problem(
                ErrorCode.TOO_LONG if len(tag) > MAX_TAG_LENGTH else ErrorCode.INVALID,
                f"Each of {field} must be 1 to {MAX_TAG_LENGTH} characters on one line.",
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


async def within_budget(sources: Mapping[str, str], trial: TrialRender, problems: Problems) -> None:
    """Trial-renders the sources not already refused (a syntax error, too long): each over
    the render budget is a TEMPLATE_TOO_EXPENSIVE problem on its field."""
    refused = {p.field[0] for p in problems.items if p.field}
    todo = {name: source for name, source in sources.items() if name not in refused and source}
    if not todo:
        return
    for name, reason in (await trial(todo)).items():
        problems.add(Problem(ErrorCode.TEMPLATE_TOO_EXPENSIVE, f"{name}: {reason}", (name,)))


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
