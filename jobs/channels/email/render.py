"""Per-contact rendering of a campaign's template: compiled once per campaign, in Jinja2's
sandbox (templates are customer input), with the contact's fields and `unsubscribe_link`.

The campaign's utm_code is added to every http(s) link of the HTML as `utm_campaign`,
with `utm_source=clarion` and `utm_medium=email`, unless the link sets them already.

Rendering has a budget (the constants below). Here, in the sandbox: operators on huge
operands are refused (`**`, `*`, `+`, `%`), `range` is bounded and each output is capped
while it is generated. Time and memory are bounded by the process that renders: a child
with resource limits that the parent kills past the time budget (render_pool.py).
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import Template
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

UTM_SOURCE = "clarion"
UTM_MEDIUM = "email"

# --- the render budget (stated in the schema's descriptions and the README) --------------
# Wall time to render one message (subject and bodies) for one contact.
SECONDS_PER_MESSAGE = 1.0
# Extra wall time for the first message of a batch, which compiles the template.
COMPILE_SECONDS = 5.0
# Characters a rendered body (HTML or text) may have; a rendered subject.
MAX_BODY_OUTPUT = 1_000_000
MAX_SUBJECT_OUTPUT = 2_000
# Characters of one batch's messages a sender holds at once: past it, the rest of the batch
# is rendered (and sent) in a later one.
MAX_BATCH_OUTPUT = 64 * MAX_BODY_OUTPUT
# Address space of a render process (RLIMIT_AS).
MEMORY_BYTES = 768 * 1024 * 1024
# Longest `range` a template may ask for; largest integer an operator may make (bits);
# longest string or list an operator may make.
MAX_RANGE = 10_000
MAX_INT_BITS = 64 * 1024
MAX_SEQUENCE = MAX_BODY_OUTPUT
# `%` formats with a width or precision of more digits than this are refused.
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(?:\*|\d{5,}|\d*\.(?:\*|\d{5,}))")


class OverBudget(Exception):
    """The template needs more than the render budget allows: not a mistake in it that one
    contact's data could cause, but a cost no message may have."""


def _too_big(value: Any) -> bool:
    return isinstance(value, int) and value.bit_length() > MAX_INT_BITS


class BudgetedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox, refusing operations whose result would be huge before computing
    it (jinja2 does not fold intercepted operators at compile time either)."""

    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = bounded_range

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "+":
            if _sized(left) and _sized(right) and len(left) + len(right) > MAX_SEQUENCE:
                raise OverBudget(f"a concatenation longer than {MAX_SEQUENCE:,} items")
        elif operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise OverBudget("a % format with a width or precision of 10,000 or more")
        result = super().call_binop(context, operator, left, right)
        if _too_big(result):
            raise OverBudget(f"an integer of more than {MAX_INT_BITS:,} bits")
        return result


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple | bytes)


def _check_power(base: Any, exponent: Any) -> None:
    big = isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
    if big and max(base.bit_length() - 1, 1) * exponent > MAX_INT_BITS:
        raise OverBudget(f"a power of more than {MAX_INT_BITS:,} bits")


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise OverBudget(f"an integer of more than {MAX_INT_BITS:,} bits")
        return
    for seq, times in ((left, right), (right, left)):
        if _sized(seq) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE:
            raise OverBudget(f"a repetition longer than {MAX_SEQUENCE:,} items")


def bounded_range(*args: int) -> range:
    """`range`, refused past MAX_RANGE items (the sandbox's own limit is 100,000)."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise OverBudget(f"a range of more than {MAX_RANGE:,} items")
    return rng


_html = BudgetedSandbox(autoescape=True)
_plain = BudgetedSandbox(autoescape=False)
_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(https?://[^"']*)\2""", re.IGNORECASE)


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class TemplateSource:
    """What a campaign renders: its template's sources, its utm code, and the prefix of
    links that get no utm parameters (unsubscribe links)."""

    subject: str
    body_html: str
    body_text: str
    utm_code: str = ""
    untagged: str = ""


def _capped(template: Template, context: Mapping[str, Any], limit: int, field: str) -> str:
    """The template's output, refused as soon as it grows past `limit` characters."""
    parts: list[str] = []
    size = 0
    chunks: Iterator[str] = template.generate(context)
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise OverBudget(f"{field} renders to more than {limit:,} characters")
        parts.append(chunk)
    return "".join(parts)


class CampaignTemplate:
    """A campaign's subject and bodies, compiled; `render` fills them in for one contact."""

    def __init__(
        self, subject: str, body_html: str, body_text: str, utm_code: str, untagged: str
    ) -> None:
        """`untagged`: links starting with it get no utm parameters (unsubscribe links)."""
        self._subject: Template = _plain.from_string(subject)
        self._html: Template = _html.from_string(body_html)
        self._text: Template | None = _plain.from_string(body_text) if body_text else None
        self._utm = utm_code
        self._untagged = untagged

    def render(self, context: Mapping[str, Any]) -> Rendered:
        html = _capped(self._html, context, MAX_BODY_OUTPUT, "body_html")
        if self._utm:
            html = _HREF.sub(self._tag, html)
        subject = _capped(self._subject, context, MAX_SUBJECT_OUTPUT, "subject")
        return Rendered(
            # A header holds one line: folding is the MIME writer's job, not the template's.
            subject=" ".join(subject.split()),
            html=html,
            text=_capped(self._text, context, MAX_BODY_OUTPUT, "body_text") if self._text else "",
        )

    def _tag(self, match: re.Match[str]) -> str:
        prefix, quote, url = match[1], match[2], match[3]
        if not url.startswith(self._untagged):
            url = _tag_link(url, self._utm)
        return prefix + quote + url + quote


@lru_cache(maxsize=64)
def compiled(source: TemplateSource) -> CampaignTemplate:
    """A campaign's template, compiled once per render process while it is in use."""
    return CampaignTemplate(
        source.subject, source.body_html, source.body_text, source.utm_code, source.untagged
    )


def contact_context(fields: Mapping[str, str], unsubscribe_link: str) -> dict[str, Any]:
    """The variables a template sees: the contact's fields (db.usecases.ledger.recipients),
    flat and as `contact`, and its `unsubscribe_link`."""
    return {**fields, "contact": fields, "unsubscribe_link": unsubscribe_link}


# A contact with every field templates see, for the trial render when a template is saved.
SAMPLE_CONTACT = {
    "email": "ada.lovelace@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+441632960961",
    "whatsapp": "+441632960961",
    "country": "GB",
    "source": "purchase",
}
SAMPLE_UNSUBSCRIBE_LINK = "https://clarion.invalid/unsubscribe/sample"


@lru_cache(maxsize=4096)
def _tag_link(url: str, utm_code: str) -> str:
    """The link with utm parameters added (links repeat across recipients: cached)."""
    parts = urlsplit(url.replace("&amp;", "&"))
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    extra = {"utm_source": UTM_SOURCE, "utm_medium": UTM_MEDIUM, "utm_campaign": utm_code}
    query += [(key, value) for key, value in extra.items() if key not in present]
    tagged = urlunsplit(parts._replace(query=urlencode(query)))
    return tagged.replace("&", "&amp;")
