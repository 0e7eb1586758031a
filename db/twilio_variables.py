"""Variables of WhatsApp/SMS content: the contact fields every lead has, a lead's own
custom variables (checked here), and the variables a campaign's content uses."""

from collections.abc import Mapping
from typing import Any

from db.errors import ErrorCode, Problem
from db.models import MessagingContent
from jobs.channels.twilio.content import context_variables
from jobs.channels.twilio.variables import valid_key, value_problem

# Contact fields a content may use as variables, filled from each lead's contact.
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "whatsapp", "country")
MAX_VARIABLES = 100
MAX_VALUE_LENGTH = 1_600


def content_variables(content: MessagingContent) -> tuple[str, ...]:
    """The variables the campaign's content uses, in order of first use."""
    if content.context is None:
        return ()
    return tuple(context_variables(content.content_type, content.context))


def check_custom_variables(
    values: Any, at: tuple[str, ...], *, whatsapp: bool
) -> tuple[dict[str, str], Problem | None]:
    """A lead's customVariables: a JSON object of at most 100 names (as in the content: a
    letter or _, then letters, digits or _; or a number from 1, as Twilio numbers its
    templates' variables; at most 16) to non-empty strings of at most 1,600 characters,
    without control characters (on WhatsApp also no newline, tab or 5 spaces in a row)."""
    if not isinstance(values, Mapping):
        return {}, Problem(ErrorCode.INVALID, "customVariables must be a JSON object.", at)
    if len(values) > MAX_VARIABLES:
        return {}, Problem(ErrorCode.TOO_MANY, f"At most {MAX_VARIABLES} custom variables.", at)
    out: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not valid_key(key):
            shown = repr(key)[:40]
            return {}, Problem(
                ErrorCode.INVALID,
                f"Variable name {shown} must be a letter or _, then letters, digits or _;"
                " or a number from 1 without a leading zero (at most 16 characters).",
                (*at, str(key)[:40]),
            )
        if not isinstance(value, str):
            return {}, Problem(ErrorCode.INVALID, "Values must be strings.", (*at, key))
        if not value.strip():
            return {}, Problem(
                ErrorCode.REQUIRED, "An empty value is never sent; leave it out.", (*at, key)
            )
        if len(value) > MAX_VALUE_LENGTH:
            return {}, Problem(
                ErrorCode.TOO_LONG, f"At most {MAX_VALUE_LENGTH:,} characters.", (*at, key)
            )
        # What is left of the rule for values a message carries: control characters, and
        # on WhatsApp newlines, tabs and long runs of spaces (Meta refuses them).
        if found := value_problem(value, whatsapp=whatsapp):
            message = found[1][:1].upper() + found[1][1:] + "."
            return {}, Problem(ErrorCode.INVALID, message, (*at, key))
        out[key] = value
    return out, None
