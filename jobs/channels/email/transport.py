"""Email behind the channel seam: each claimed row rendered from the campaign's snapshot
(in the render processes, within the budget), built into a MIME message with its
unsubscribe link, and sent over the channel's SMTP pool."""

from collections.abc import Callable, Sequence
from email.utils import format_datetime
from typing import Any

from db.engine import Database
from db.kinds.email import EmailSettings
from db.types import utcnow
from db.unsubscribe import make_token
from db.usecases.send_plan import SendPlan
from jobs.channels.base import ContentBroken, Halt, Outcome, Prepared, Recipient, SendResult
from jobs.channels.email.mime import Envelope, MessageFactory
from jobs.channels.email.render import Rendered, TemplateSource, contact_context
from jobs.channels.email.render_pool import OverBudget, RenderError, RenderPool, budget_text
from jobs.channels.email.smtp import SmtpPools
from jobs.pacing import WINDOW_S


class EmailFamily:
    """What email runs share in a worker process: SMTP pools and render processes."""

    def __init__(
        self,
        db: Database,
        pools: SmtpPools,
        renderer: RenderPool,
        public_url: str,
        signing_key: bytes,
    ) -> None:
        self.db = db
        self.pools = pools
        self.renderer = renderer
        self.public_url = public_url
        self.signing_key = signing_key

    def unsubscribe_url(self, contact_id: int, delivery_id: int) -> str:
        token = make_token(self.signing_key, contact_id, delivery_id)
        return f"{self.public_url}/unsubscribe/{token}"

    async def before_run(self, plan: SendPlan[Any]) -> None:
        """Nothing outside Clarion to check before an email run."""

    async def open(self, channel_id: int, settings: object) -> "EmailTransport":
        assert isinstance(settings, EmailSettings)
        return EmailTransport(self, channel_id, settings)

    async def close(self) -> None:
        await self.pools.close()
        await self.renderer.close()


class EmailTransport:
    pacing_window_s = WINDOW_S

    def __init__(self, family: EmailFamily, channel_id: int, settings: EmailSettings) -> None:
        self.family = family
        self.channel_id = channel_id
        self.settings = settings
        t = settings.template
        unsubscribe_prefix = f"{family.public_url}/unsubscribe/"
        self.template = TemplateSource(
            t.subject, t.body_html, t.body_text, settings.utm_code, unsubscribe_prefix
        )
        self.factory = MessageFactory(settings.sender, multipart=bool(t.body_text))

    async def prepare(self, rows: Sequence[Recipient]) -> list[Prepared | SendResult]:
        """Raises ContentBroken when the template is over the render budget."""
        links = {row.id: self.family.unsubscribe_url(row.contact_id, row.id) for row in rows}
        found = [row for row in rows if row.contact is not None]
        results = await self.family.renderer.render(
            self.template,
            [contact_context(r.contact or {}, links[r.id]) for r in found],
        )
        if results and isinstance(results[-1], OverBudget):
            raise ContentBroken(budget_text(results[-1].reason))
        # Fewer results than rows: the batch's output was full; the rest go back for later.
        by_row: dict[int, Rendered | RenderError | OverBudget | None] = {
            row.id: None for row in found
        }
        by_row.update(zip((row.id for row in found), results, strict=False))
        date = format_datetime(utcnow())
        out: list[Prepared | SendResult] = []
        for row in rows:
            if row.id not in by_row:  # deleted before the claim read it
                out.append(SendResult(Outcome.FAILED, "contact deleted"))
                continue
            rendered = by_row[row.id]
            if rendered is None:
                out.append(SendResult(Outcome.UNSENT, "not rendered in this batch"))
                continue
            if isinstance(rendered, RenderError | OverBudget):  # the campaign's, not ours
                out.append(SendResult(Outcome.FAILED, rendered.reason))
                continue
            out.append(
                self.factory.build(
                    recipient=row.address,
                    subject=rendered.subject,
                    html=rendered.html,
                    text=rendered.text,
                    message_id=row.message_id,
                    unsubscribe_url=links[row.id],
                    date=date,
                )
            )
        return out

    async def send(
        self, messages: Sequence[Prepared], may_start: Callable[[], bool]
    ) -> tuple[list[SendResult], Halt | None]:
        envelopes = [m for m in messages if isinstance(m, Envelope)]
        assert len(envelopes) == len(messages)
        pool = await self.family.pools.get(self.channel_id, self.settings.smtp)
        results, unavailable = await pool.send(envelopes, may_start)
        return results, None if unavailable is None else Halt(str(unavailable))

    async def close(self) -> None:
        """The pool stays open for the channel's next run."""
