"""WhatsApp and SMS behind the channel seam: each claimed lead's message (its content
with the contact's fields and the lead's own variables), created through the `twilio`
package's client, each answer classified (jobs/channels/twilio/errors.py).

Creating a message is not idempotent: a 5xx or a timeout may hide a message Twilio made.
Such a row comes back flagged a possible duplicate, and before it is sent again its
message is looked for in Twilio (Messages list filtered by To, From and DateSent); a
message found there is taken as this lead's and not sent twice."""

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis
from twilio.rest import Client

from db.engine import Database
from db.kinds.twilio import TwilioSettings
from db.settings import SendSettings
from db.usecases.send_plan import SendPlan
from jobs.approval import check_before_run
from jobs.channels.base import (
    MESSAGE_TIMEOUT_S,
    NOT_ATTEMPTED,
    Halt,
    Outcome,
    Prepared,
    Recipient,
    SendResult,
)
from jobs.channels.twilio.client import Credentials, TwilioClients
from jobs.channels.twilio.content import missing, render
from jobs.channels.twilio.errors import Kind, classify
from jobs.channels.twilio.hook_urls import STATUS_CALLBACK_PATH, hook_url
from jobs.channels.twilio.segments import segments
from jobs.channels.twilio.status_events import is_message_sid

# Creates in flight at once per run (Twilio answers each in ~100-300 ms).
CONCURRENCY = 16
# How long a run throttled by Twilio (429, a full sender queue) waits before going on.
THROTTLED_BACKOFF_S = 5.0
# Twilio's DateSent filter counts whole seconds, and its clock is not our database's.
LOOKUP_MARGIN = timedelta(seconds=2)
# Messages read when looking for a lost one (a lead has a handful at most).
LOOKUP_LIMIT = 20


@dataclass(frozen=True)
class TwilioMessage:
    row_id: int
    to: str
    params: dict[str, Any]
    # Against the channel's rate limit: 1, or an SMS body's segments.
    units: int = 1
    possible_duplicate: bool = False
    sender: str = field(default="")
    # The lead's first claim: a message of it is no older (None: unknown).
    since: datetime | None = None


class TwilioFamily:
    """What WhatsApp/SMS runs share in a worker process: a twilio client per channel."""

    def __init__(
        self,
        db: Database,
        public_url: str,
        redis: ArqRedis | None = None,
        sending: SendSettings | None = None,
    ) -> None:
        self.db = db
        self.public_url = public_url
        self.clients = TwilioClients()
        self.redis = redis
        self.sending = sending or SendSettings()

    def client(self, channel_id: int, settings: TwilioSettings) -> Client:
        credentials = Credentials(settings.account_sid, settings.auth_token, settings.api_base_url)
        return self.clients.get(channel_id, credentials)

    async def before_run(self, plan: SendPlan[Any]) -> None:
        """A WhatsApp campaign's template approval, read again when the last read is old;
        the execution halts (the run then ends at its first claim) unless approved."""
        settings = plan.settings
        assert isinstance(settings, TwilioSettings)
        if not settings.whatsapp or self.redis is None:
            return
        await check_before_run(
            self.db,
            self.redis,
            self.client(plan.channel_id, settings),
            plan.campaign_id,
            self.sending.approval_fresh_seconds,
            self.sending.approval_poll_seconds[1],
        )

    async def open(self, channel_id: int, settings: object) -> "TwilioTransport":
        assert isinstance(settings, TwilioSettings)
        return TwilioTransport(self, self.client(channel_id, settings), settings, channel_id)

    async def close(self) -> None:
        await self.clients.aclose()


class TwilioTransport:
    # A create passes through the twilio package, an HTTP client and Twilio's edge before
    # it counts: up to 250 ms between the slot and its arrival (measured at the stand-in
    # under load), so a second's messages are spread over 1.25 s.
    pacing_window_s = 1.25

    def __init__(
        self, family: TwilioFamily, client: Client, settings: TwilioSettings, channel_id: int
    ) -> None:
        self.family = family
        self.client = client
        self.settings = settings
        self.callback = hook_url(family.public_url, STATUS_CALLBACK_PATH, channel_id)
        prefix = "whatsapp:" if settings.whatsapp else ""
        self.sender = f"{prefix}{settings.from_number}" if settings.from_number else ""
        self.prefix = prefix

    async def prepare(self, rows: Sequence[Recipient]) -> list[Prepared | SendResult]:
        out: list[Prepared | SendResult] = []
        s = self.settings
        for row in rows:
            if row.contact is None:  # deleted before the claim read it
                out.append(SendResult(Outcome.FAILED, "contact deleted"))
                continue
            values = {**row.contact, **row.variables}
            context = s.context or {}
            lacking = missing(s.content_type, context, values) if s.context else []
            if lacking:  # never send an empty value (Twilio's 21656)
                reason = f"No value for the variable(s) {', '.join(lacking)}."
                out.append(SendResult(Outcome.FAILED, reason))
                continue
            out.append(self._message(row, values))
        return out

    def _message(self, row: Recipient, values: dict[str, str]) -> TwilioMessage:
        s = self.settings
        params: dict[str, Any] = {"to": f"{self.prefix}{row.address}"}
        if self.sender:
            params["from_"] = self.sender
        else:
            params["messaging_service_sid"] = s.messaging_service_sid
        params["status_callback"] = self.callback
        units = 1
        if s.content_sid:
            params["content_sid"] = s.content_sid
            if s.variables:
                params["content_variables"] = json.dumps(
                    {name: values[name] for name in s.variables}
                )
        else:  # SMS as a plain message: the rendered body (and media, as MMS)
            rendered = render(s.content_type, s.context or {}, values).context
            body = str(rendered.get("body", ""))
            if body:
                params["body"] = body
                units = max(1, segments(body).segments)
            media = rendered.get("media")
            if isinstance(media, list) and media:
                params["media_url"] = [str(url) for url in media]
        return TwilioMessage(
            row.id,
            params["to"],
            params,
            units,
            row.possible_duplicate,
            self.sender,
            row.first_claimed_at,
        )

    async def send(
        self, messages: Sequence[Prepared], may_start: Callable[[], bool]
    ) -> tuple[list[SendResult], Halt | None]:
        batch = [m for m in messages if isinstance(m, TwilioMessage)]
        assert len(batch) == len(messages)
        results = [NOT_ATTEMPTED] * len(batch)
        halts: list[Halt] = []
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with gate:
                if halts or not may_start():
                    return
                results[i] = await self._send_one(batch[i], halts)

        await asyncio.gather(*(one(i) for i in range(len(batch))))
        return results, halts[0] if halts else None

    async def _send_one(self, message: TwilioMessage, halts: list[Halt]) -> SendResult:
        try:
            async with asyncio.timeout(MESSAGE_TIMEOUT_S):
                if message.possible_duplicate:
                    found = await self._already_sent(message)
                    if found:  # an earlier attempt's: taken; the only copy if just one
                        only = len(found) == 1
                        return SendResult(
                            Outcome.SENT, "found in Twilio", provider_id=found[0], only_copy=only
                        )
                created = await self.client.messages.create_async(**message.params)
            sid = created.sid
            if not isinstance(sid, str) or not is_message_sid(sid):
                # Not a message Twilio names: whether one was made is unknown (it is
                # looked up before the lead is sent again), and the value is not kept.
                return SendResult(Outcome.UNKNOWN, "Twilio answered without a message sid")
            return SendResult(Outcome.SENT, provider_id=sid)
        except Exception as exc:  # every answer is classified; nothing escapes a batch
            verdict = classify(exc)
            if verdict.kind is Kind.HALT:
                halt = verdict.halt()
                assert halt is not None
                halts.append(halt)
            elif verdict.throttled:
                # Twilio processed nothing and would throttle the next create too: the run
                # backs off as a whole (a short halt), and the lead, untouched, keeps its
                # retries.
                halts.append(Halt(verdict.reason, THROTTLED_BACKOFF_S))
                return SendResult(Outcome.UNSENT, verdict.reason, error_code=verdict.error_code)
            return verdict.result()

    async def _already_sent(self, message: TwilioMessage) -> list[str]:
        """The sids of the messages Twilio made for this lead, oldest first: those to its
        number from the channel's sender (or Messaging Service) since the lead was first
        claimed. An earlier attempt's whose answer was lost; not another campaign's, sent
        to the same number before this lead was ever tried."""
        since = message.since or datetime.now(UTC) - timedelta(days=1)
        query: dict[str, Any] = {
            "to": message.to,
            "date_sent_after": since - LOOKUP_MARGIN,
            "limit": LOOKUP_LIMIT,
        }
        if message.sender:
            query["from_"] = message.sender
        found = await self.client.messages.list_async(**query)
        service = self.settings.messaging_service_sid
        ours = [m for m in found if message.sender or m.messaging_service_sid == service]
        sids = [m.sid for m in reversed(ours)]  # Twilio lists the newest first
        return [sid for sid in sids if isinstance(sid, str) and is_message_sid(sid)]

    async def close(self) -> None:
        """The client stays open for the channel's next run."""
