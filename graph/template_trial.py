"""Save-time trial render: a template's sources rendered for a sample contact by the API's
render pool, so a template over the render budget is refused where the user saves it.

The use cases (db/) take this as a callable (db.validation.TrialRender): they decide
when a template is checked and merge the refusals with their other problems, while db/
stays free of the renderer (jobs/), which the API process owns.
"""

import asyncio
from collections.abc import Mapping

from db.validation import TrialRender
from jobs.channels.email.render import (
    SAMPLE_CONTACT,
    SAMPLE_UNSUBSCRIBE_LINK,
    TemplateSource,
    contact_context,
)
from jobs.channels.email.render_pool import OverBudget, RenderPool

_SAMPLE = contact_context(SAMPLE_CONTACT, SAMPLE_UNSUBSCRIBE_LINK)


def trial_render(pool: RenderPool) -> TrialRender:
    async def trial(sources: Mapping[str, str]) -> Mapping[str, str]:
        """Each source alone (so a timeout names its field), all at once on the pool."""
        names = list(sources)
        results = await asyncio.gather(*(_one(pool, name, sources[name]) for name in names))
        return {name: reason for name, reason in zip(names, results, strict=True) if reason}

    return trial


async def _one(pool: RenderPool, field: str, source: str) -> str | None:
    """Why `source`, as `field`, is over the render budget; None if it is within it."""
    template = TemplateSource(
        subject=source if field == "subject" else "",
        body_html=source if field == "body_html" else "",
        body_text=source if field == "body_text" else "",
        untagged=SAMPLE_UNSUBSCRIBE_LINK,
        utm_code="sample",
    )
    (result,) = await pool.render(template, [_SAMPLE])
    return f"over the render budget: {result.reason}." if isinstance(result, OverBudget) else None
