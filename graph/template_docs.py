"""The schema's descriptions of template fields: their limits and the render budget, from
the constants that enforce them."""

from db.validation import MAX_BODY_LENGTH, MAX_SUBJECT_LENGTH
from jobs.channels.email.render import (
    COMPILE_SECONDS,
    MAX_BODY_OUTPUT,
    MAX_INT_BITS,
    MAX_RANGE,
    MAX_SEQUENCE,
    MAX_SUBJECT_OUTPUT,
    MEMORY_BYTES,
    SECONDS_PER_MESSAGE,
)

BUDGET = (
    f"Render budget: {SECONDS_PER_MESSAGE:g} s per message (plus {COMPILE_SECONDS:g} s to "
    f"compile), {MEMORY_BYTES // 2**20} MB of memory, `range` up to {MAX_RANGE:,} items, "
    f"operators making integers up to {MAX_INT_BITS:,} bits and strings or lists up to "
    f"{MAX_SEQUENCE:,} items. A template over it is refused when saved "
    "(TEMPLATE_TOO_EXPENSIVE, from a trial render for a sample contact) and fails the "
    "campaign (or test email) that sends it."
)
SUBJECT = (
    f"Jinja2; at most {MAX_SUBJECT_LENGTH} characters, rendering to at most "
    f"{MAX_SUBJECT_OUTPUT:,}. {BUDGET}"
)
BODY_HTML = (
    f"Jinja2 HTML body (autoescaped); at most {MAX_BODY_LENGTH:,} characters, rendering to "
    f"at most {MAX_BODY_OUTPUT:,}. {BUDGET}"
)
BODY_TEXT = (
    f"Jinja2 plain-text body; may be empty; at most {MAX_BODY_LENGTH:,} characters, "
    f"rendering to at most {MAX_BODY_OUTPUT:,}. {BUDGET}"
)
