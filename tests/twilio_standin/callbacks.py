"""Status callbacks as Twilio sends them: each message's statuses advance one step at a time
(WhatsApp sent → delivered → read, SMS sent → delivered; or failed / undelivered with an
ErrorCode), and each step is POSTed, signed with the account's auth token, to the message's
StatusCallback URL. The stored status follows the steps even when a callback is dropped or
late (that is how Twilio loses callbacks: a catch-up fetch still sees the truth).

Knobs (per account, and per number overriding them): the delay between steps, duplicates,
out-of-order delivery, late delivery, drops, and off. A receiver that answers non-2xx or
does not answer in time gets one retry, as Twilio's. Posts go out through one aiohttp
session with a bounded number in flight; each attempt is recorded for the control API.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.request_validator import RequestValidator
from yarl import URL

from tests.twilio_standin.errors import KNOWN
from tests.twilio_standin.poster import BadResponse, Poster

if TYPE_CHECKING:
    from tests.twilio_standin.state import Account, Message

API_VERSION = "2010-04-01"
FORM = "application/x-www-form-urlencoded"
USER_AGENT = "TwilioProxy/1.1"
FINALS = ("sent", "delivered", "read", "undelivered", "failed")
FAILING = ("undelivered", "failed")
MAX_RECORDS = 2_000_000
# Delivery errors a callback carries (KNOWN holds the create-time ones too).
DELIVERY_ERRORS: dict[int, str] = {
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    63003: "Channel could not find To address",
    63024: "Invalid message recipient",
    63032: "User's number is part of an experiment",
    63049: "Meta chose not to deliver this WhatsApp marketing message",
}


def error_message(code: int) -> str:
    return DELIVERY_ERRORS.get(code) or KNOWN.get(code, (400, "Error"))[1]


@dataclass
class Plan:
    """How a message's callbacks go. Probabilities are 0..1 (a test uses 0 or 1)."""

    enabled: bool = True
    delay_min: float = 0.05  # seconds between steps (and from the create to "sent")
    delay_max: float = 0.2
    duplicate: float = 0.0  # each callback is posted twice
    out_of_order: float = 0.0  # the message's callbacks are posted last step first
    late_seconds: float = 0.0  # each callback is posted this long after its status changed
    drop: float = 0.0  # each callback is never posted (the status still advances)
    # The last status ("read" WhatsApp / "delivered" SMS when None) and its ErrorCode.
    final: str | None = None
    error_code: int | None = None
    # The account's first message and every reply_every-th after it (0: none) that
    # reached its last status without failing is answered by its recipient: reply_body
    # posted, signed, to reply_url (the sender's "A message comes in" webhook), quoting it.
    reply_every: int = 0
    reply_url: str | None = None
    reply_body: str = "Yes please"


@dataclass
class Delivery:
    """Twilio's retry: one more attempt after `retry_delay` when the first is not 2xx."""

    retry_delay: float = 1.0
    timeout: float = 15.0  # Twilio waits 15 s in all


@dataclass
class Callbacks:
    """An account's callback settings: the default plan, per-number plans (keyed by the
    number without its whatsapp: prefix), delivery."""

    plan: Plan = field(default_factory=Plan)
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    delivery: Delivery = field(default_factory=Delivery)

    def plan_for(self, to: str) -> Plan:
        override = self.numbers.get(to.removeprefix("whatsapp:"))
        return replace(self.plan, **override) if override else self.plan


def steps(message: Message, plan: Plan) -> list[tuple[str, int | None]]:
    """The statuses a message goes through after its initial one, with their ErrorCode."""
    whatsapp = message.to.startswith("whatsapp:")
    if message.status == "failed":  # failed at create (63016): only that callback
        return [("failed", message.error_code)]
    final = plan.final or ("read" if whatsapp else "delivered")
    if final == "read" and not whatsapp:
        final = "delivered"
    if final == "failed":
        return [("failed", plan.error_code or 30008)]
    if final == "undelivered":
        return [("sent", None), ("undelivered", plan.error_code or 30003)]
    order = ["sent", "delivered", "read"]
    return [(status, None) for status in order[: order.index(final) + 1]]


def _raw_dlr_done_date(moment: float) -> str:
    """SMS delivery receipts' done date: YYMMDDhhmm, UTC, no zone."""
    return datetime.fromtimestamp(moment, UTC).strftime("%y%m%d%H%M")


def params_for(
    account: Account, message: Message, status: str, error_code: int | None
) -> dict[str, str]:
    """Twilio's form fields for one status callback."""
    whatsapp = message.to.startswith("whatsapp:")
    sender = message.from_ or account.sender_for("whatsapp" if whatsapp else "sms")
    params = {
        "AccountSid": account.sid,
        "ApiVersion": API_VERSION,
        "From": sender,
        "MessageSid": message.sid,
        "MessageStatus": status,
        "SmsSid": message.sid,
        "SmsStatus": status,
        "To": message.to,
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    if whatsapp:
        params |= {
            "ChannelInstallSid": account.channel_install_sid,
            "ChannelPrefix": "whatsapp",
            "ChannelToAddress": message.to.removeprefix("whatsapp:"),
            "StructuredMessage": "false",
        }
        if status in ("delivered", "read"):
            params["EventType"] = status.upper()
        if error_code is not None:
            params["ChannelStatusMessage"] = error_message(error_code)
    elif status in ("delivered", "undelivered"):
        params["RawDlrDoneDate"] = _raw_dlr_done_date(time.time())
    return params


def sign(token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 over the exact URL + the sorted params."""
    signature: str = RequestValidator(token).compute_signature(url, dict(params))
    return signature


class Dispatcher:
    """Runs message lifecycles and posts callbacks; records every attempt."""

    def __init__(self, concurrency: int = 256) -> None:
        self.concurrency = concurrency
        self.records: list[dict[str, Any]] = []
        # What each answer of a plan's reply_every got back, oldest first.
        self.answers: list[dict[str, Any]] = []
        self.tracked: dict[str, int] = {}  # account SID → messages whose lifecycle ran
        self.tasks: dict[str, set[asyncio.Task[None]]] = {}  # account SID → live tasks
        # Account SID → set unless its lifecycles are paused (PUT callback_plan paused).
        self.gates: dict[str, asyncio.Event] = {}
        self._session: aiohttp.ClientSession | None = None
        self.poster = Poster()  # plain http: kept-alive streams, a fraction of aiohttp's CPU
        self._slots: asyncio.Semaphore | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector)
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._session

    @property
    def pending(self) -> int:
        return sum(len(tasks) for tasks in self.tasks.values())

    def _spawn(self, account_sid: str, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        live = self.tasks.setdefault(account_sid, set())
        live.add(task)
        task.add_done_callback(live.discard)

    def track(self, account: Account, message: Message) -> None:
        """Start a created message's lifecycle (nothing when callbacks are off for it)."""
        plan = account.callbacks.plan_for(message.to)
        if plan.enabled:
            ordinal = self.tracked.get(account.sid, 0)
            self.tracked[account.sid] = ordinal + 1
            self._spawn(account.sid, self._lifecycle(account, message, plan, ordinal))

    def gate(self, account_sid: str) -> asyncio.Event:
        if account_sid not in self.gates:
            self.gates[account_sid] = asyncio.Event()
            self.gates[account_sid].set()
        return self.gates[account_sid]

    def pause(self, account_sid: str, paused: bool) -> None:
        """Paused: no status moves (nor is posted) until resumed; then every step that fell
        due goes at once (a burst, as after an outage at Twilio)."""
        gate = self.gate(account_sid)
        if paused:
            gate.clear()
        else:
            gate.set()

    def cancel(self, account_sid: str) -> None:
        for task in list(self.tasks.pop(account_sid, set())):
            task.cancel()
        self.gates.pop(account_sid, None)
        self.tracked.pop(account_sid, None)
        self.records = [r for r in self.records if r["account_sid"] != account_sid]
        self.answers = [a for a in self.answers if a["account_sid"] != account_sid]

    async def close(self) -> None:
        for account_sid in list(self.tasks):
            self.cancel(account_sid)
        self.poster.close()
        if self._session is not None:
            await self._session.close()

    async def _lifecycle(
        self, account: Account, message: Message, plan: Plan, ordinal: int
    ) -> None:
        held: list[dict[str, str]] = []
        reverse = random.random() < plan.out_of_order
        for status, error_code in steps(message, plan):
            await asyncio.sleep(random.uniform(plan.delay_min, plan.delay_max))
            await self.gate(account.sid).wait()
            message.advance(status, error_code, error_message(error_code) if error_code else None)
            params = params_for(account, message, status, error_code)
            if reverse:
                held.append(params)
            else:
                for post in self._posts(account, message, plan, params):
                    self._spawn(account.sid, post)
        for params in reversed(held):  # last step first, each once the one before is answered
            await asyncio.gather(*self._posts(account, message, plan, params))
        if (
            plan.reply_every
            and plan.reply_url
            and ordinal % plan.reply_every == 0
            and message.status not in FAILING
        ):
            await self._answer(account, message, plan.reply_url, plan.reply_body)

    async def _answer(self, account: Account, message: Message, url: str, body: str) -> None:
        # Imported here: inbound needs state, which needs this module's Callbacks.
        from tests.twilio_standin import inbound

        answer = inbound.Inbound(url=url, body=body, **inbound.answering(account, message))
        posted = await inbound.post(self.session(), account, answer)
        self.answers.append(
            {
                "account_sid": account.sid,
                "message_sid": message.sid,
                "reply_sid": posted["params"]["MessageSid"],
                "status_code": posted["status_code"],
                "response_ms": posted["response_ms"],
                "error": posted["error"],
            }
        )

    def _posts(
        self, account: Account, message: Message, plan: Plan, params: dict[str, str]
    ) -> list[Coroutine[Any, Any, None]]:
        """The posts one callback makes: none when dropped, two when duplicated."""
        url = message.status_callback
        if url is None:
            return []
        if random.random() < plan.drop:
            self._record(account.sid, message.sid, url, params, 1, dropped=True)
            return []
        copies = 2 if random.random() < plan.duplicate else 1
        return [
            self._post(account, message.sid, url, params, plan.late_seconds, copy > 0)
            for copy in range(copies)
        ]

    async def _post(
        self,
        account: Account,
        message_sid: str,
        url: str,
        params: dict[str, str],
        late: float,
        duplicate: bool,
    ) -> None:
        if late > 0:
            await asyncio.sleep(late)
        delivery = account.callbacks.delivery
        # Signed and encoded once for both attempts (aiohttp's own form encoding of a dict
        # was a third of the stand-in's CPU a callback).
        headers = {
            "X-Twilio-Signature": sign(account.auth_token, url, params),
            "Content-Type": FORM,
            "User-Agent": USER_AGENT,
        }
        body = urlencode(params).encode()
        for attempt in (1, 2):
            code = await self._attempt(
                account.sid, message_sid, url, params, headers, body, attempt, duplicate, delivery
            )
            if code is not None and 200 <= code < 300:
                return
            if attempt == 1:
                await asyncio.sleep(delivery.retry_delay)

    async def _attempt(
        self,
        account_sid: str,
        message_sid: str,
        url: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        attempt: int,
        duplicate: bool,
        delivery: Delivery,
    ) -> int | None:
        session = self.session()
        assert self._slots is not None
        async with self._slots:
            started = time.time()
            clock = time.perf_counter()
            code: int | None = None
            error: str | None = None
            try:
                parts = urlsplit(url)
                if parts.scheme == "http":
                    code, _ = await self.poster.post(parts, headers, body, delivery.timeout)
                else:
                    async with session.post(
                        URL(url, encoded=True),  # sent as given: the signature covers it
                        data=body,
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=delivery.timeout),
                        allow_redirects=False,
                    ) as response:
                        await response.read()
                        code = response.status
            except (
                aiohttp.ClientError,
                OSError,
                TimeoutError,
                ValueError,
                BadResponse,
                asyncio.LimitOverrunError,
                asyncio.IncompleteReadError,
            ) as failure:
                error = f"{type(failure).__name__}: {failure}"[:300]
            elapsed = (time.perf_counter() - clock) * 1000
        self._record(
            account_sid,
            message_sid,
            url,
            params,
            attempt,
            duplicate=duplicate,
            sent_at=started,
            status_code=code,
            response_ms=round(elapsed, 3),
            error=error,
        )
        return code

    def _record(
        self,
        account_sid: str,
        message_sid: str,
        url: str,
        params: Mapping[str, str],
        attempt: int,
        *,
        dropped: bool = False,
        duplicate: bool = False,
        sent_at: float | None = None,
        status_code: int | None = None,
        response_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        if len(self.records) >= MAX_RECORDS:
            return
        self.records.append(
            {
                "account_sid": account_sid,
                "message_sid": message_sid,
                "url": url,
                "message_status": params["MessageStatus"],
                "error_code": params.get("ErrorCode"),
                "attempt": attempt,
                "duplicate": duplicate,
                "dropped": dropped,
                "sent_at": sent_at if sent_at is not None else time.time(),
                "status_code": status_code,
                "response_ms": response_ms,
                "error": error,
            }
        )
