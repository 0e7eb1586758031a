"""Per-contact rendering of a campaign's template: compiled once per campaign, in Jinja2's
sandbox (templates are customer input), with the contact's fields and `unsubscribe_link`.

The campaign's utm_code is added to every http(s) link of the HTML as `utm_campaign`,
with `utm_source=clarion` and `utm_medium=email`, unless the link sets them already.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import Template
from jinja2.sandbox import SandboxedEnvironment

UTM_SOURCE = "clarion"
UTM_MEDIUM = "email"

_html = SandboxedEnvironment(autoescape=True)
_plain = SandboxedEnvironment(autoescape=False)
_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(https?://[^"']*)\2""", re.IGNORECASE)


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


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
        html = self._html.render(context)
        if self._utm:
            html = _HREF.sub(self._tag, html)
        return Rendered(
            # A header holds one line: folding is the MIME writer's job, not the template's.
            subject=" ".join(self._subject.render(context).split()),
            html=html,
            text=self._text.render(context) if self._text else "",
        )

    def _tag(self, match: re.Match[str]) -> str:
        prefix, quote, url = match[1], match[2], match[3]
        if not url.startswith(self._untagged):
            url = _tag_link(url, self._utm)
        return prefix + quote + url + quote


@lru_cache(maxsize=64)
def compiled(
    subject: str, body_html: str, body_text: str, utm_code: str, untagged: str
) -> CampaignTemplate:
    """A campaign's template, compiled once per worker process while it is in use."""
    return CampaignTemplate(subject, body_html, body_text, utm_code, untagged)


def contact_context(fields: Mapping[str, str], unsubscribe_link: str) -> dict[str, Any]:
    """The variables a template sees: the contact's fields (db.usecases.ledger.recipients),
    flat and as `contact`, and its `unsubscribe_link`."""
    return {**fields, "contact": fields, "unsubscribe_link": unsubscribe_link}


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
