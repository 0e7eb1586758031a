"""`{{name}}` placeholders in Twilio content: finding, checking and filling them.

A key is 1..16 ASCII characters: an identifier (`lead_name`, as the spec writes them) or a
positive number without a leading zero (`1`, as Twilio's own templates number them, so a
template fetched by contentSid reads the same way). No spaces, not even `{{ name }}`.
Scanning is one left-to-right pass with `str.find` (no regular expression), so its cost is
linear in the text whatever the text holds.
"""

import itertools
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from jobs.channels.twilio.problems import Code

KEY_MAX = 16  # Twilio: a variable key is at most 16 characters
MAX_VARIABLES = 100  # Twilio: at most 100 variables in one content
VALUE_MAX = 1_600  # Twilio: a variable's value is at most 1,600 characters
WHATSAPP_MAX_SPACES = 4  # Meta refuses a value with more consecutive spaces (132018)


class Placeholder(NamedTuple):
    start: int  # index of the opening `{{`
    end: int  # index just past the closing `}}` (len(text) when it is never closed)
    raw: str  # what stood between the braces
    key: str | None  # `raw` when it is a valid key, None otherwise


def valid_key(key: str) -> bool:
    # isidentifier() on an ASCII string is exactly [A-Za-z_][A-Za-z0-9_]*.
    if not 0 < len(key) <= KEY_MAX or not key.isascii():
        return False
    return key.isidentifier() or (key.isdigit() and key[0] != "0")


def placeholders(text: str) -> Iterator[Placeholder]:
    """Every `{{…}}` in `text`, in order; an unclosed `{{` ends the scan."""
    at = 0
    while (start := text.find("{{", at)) >= 0:
        close = text.find("}}", start + 2)
        if close < 0:
            yield Placeholder(start, len(text), text[start + 2 : start + 2 + KEY_MAX + 1], None)
            return
        raw = text[start + 2 : close]
        yield Placeholder(start, close + 2, raw, raw if valid_key(raw) else None)
        at = close + 2


def position_problem(text: str) -> str | None:
    """WhatsApp's approval rule for a body: no variable first, last, or next to another."""
    found = [p for p in placeholders(text) if p.key is not None]
    if not found:
        return None
    stripped_start = len(text) - len(text.lstrip())
    if found[0].start == stripped_start:
        return "WhatsApp refuses a body that starts with a variable"
    if found[-1].end == len(text.rstrip()):
        return "WhatsApp refuses a body that ends with a variable"
    for before, after in itertools.pairwise(found):
        if not text[before.end : after.start].strip():
            return "WhatsApp refuses two variables side by side; put words between them"
    return None


def substitute(text: str, values: Mapping[str, str]) -> str:
    """`text` with each valid placeholder that has a non-empty value replaced.

    One pass: a value that itself looks like `{{x}}` is inserted as it is, never expanded.
    Placeholders without a value stay as written, so a preview shows what is missing.
    """
    pieces: list[str] = []
    at = 0
    for p in placeholders(text):
        value = values.get(p.key) if p.key is not None else None
        if value:
            pieces += (text[at : p.start], value)
            at = p.end
    pieces.append(text[at:])
    return "".join(pieces)


def value_problem(value: object, *, whatsapp: bool) -> tuple[Code, str] | None:
    """(code, message) when `value` may not be sent as a variable's value; None when it may."""
    if not isinstance(value, str):
        return Code.INVALID_TYPE, "a variable's value must be a string"
    if not value.strip():
        return Code.MISSING_VALUE, "empty: Twilio refuses an empty variable (error 21656)"
    if len(value) > VALUE_MAX:
        return Code.TOO_LONG, f"longer than {VALUE_MAX} characters"
    allowed = "" if whatsapp else "\n\r\t"
    if any(_control(ch) and ch not in allowed for ch in value):
        if whatsapp:
            return Code.INVALID_CHARACTER, "WhatsApp refuses newlines, tabs and control characters"
        return Code.INVALID_CHARACTER, "holds a control character"
    if whatsapp and " " * (WHATSAPP_MAX_SPACES + 1) in value:
        return (
            Code.INVALID_CHARACTER,
            f"WhatsApp refuses more than {WHATSAPP_MAX_SPACES} spaces in a row",
        )
    return None


def _control(ch: str) -> bool:
    # C0, DEL, C1 and lone surrogates (which cannot be encoded to send).
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000


def control_character(text: str, allowed: str = "") -> bool:
    return any(_control(ch) and ch not in allowed for ch in text)
