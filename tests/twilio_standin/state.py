"""What the stand-in remembers, in memory: accounts, their messages, contents, approvals and
the failures a test asked for. One event loop owns it: no handler awaits between reading and
changing it, so no locks are needed."""

from __future__ import annotations

import bisect
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from tests.twilio_standin.callbacks import Callbacks, Plan

MAX_ACCOUNTS = 1_000
MAX_CONTENTS_PER_ACCOUNT = 10_000
MAX_MESSAGES_PER_ACCOUNT = 2_000_000
APPROVAL_OUTCOMES = ("approved", "rejected", "paused", "disabled", "pending", "received")


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's 2010 API dates: `Thu, 24 Aug 2023 05:01:45 +0000`."""
    return None if moment is None else format_datetime(moment)


def iso8601(moment: datetime) -> str:
    """The Content API's dates: `2015-07-30T19:00:00Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Message:
    seq: int
    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    num_segments: int
    num_media: int
    date_created: datetime
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None
    # Where the signed status callbacks go (callbacks.py).
    status_callback: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    # What the HTTP answer was (201, or the injected 5xx): tests read it via the control API.
    answered: int = 201
    # When its create request came in, to the microsecond (Unix time; `date_created` has
    # whole seconds, as Twilio's): tests measure a channel's rate with it.
    received_at: float = field(default_factory=time.time)
    date_updated: datetime | None = None

    def advance(self, status: str, error_code: int | None, error_message: str | None) -> None:
        """The next status of its lifecycle (callbacks.py), as a fetch will read it."""
        self.status, self.date_updated = status, now()
        if error_code is not None:
            self.error_code, self.error_message = error_code, error_message

    @property
    def uri(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def resource(self) -> dict[str, Any]:
        """The Message resource as Twilio's 2010 API renders it."""
        created = rfc2822(self.date_created)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": created,
            "date_sent": created,
            "date_updated": rfc2822(self.date_updated) if self.date_updated else created,
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(self.num_media),
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": self.uri[: -len(".json")] + "/Media.json"},
            "to": self.to,
            "uri": self.uri,
        }


@dataclass
class ApprovalPlan:
    """What a WhatsApp approval request turns into: `outcome` once it was fetched more than
    `after_fetches` times (the first fetch reads received, later ones pending)."""

    outcome: str = "approved"
    rejection_reason: str = ""
    after_fetches: int = 2

    def status_at(self, fetches: int) -> str:
        if fetches > self.after_fetches or self.after_fetches == 0:
            return self.outcome
        return "received" if fetches <= 1 else "pending"


@dataclass
class Approval:
    name: str
    category: str
    fetches: int = 0


@dataclass
class Content:
    sid: str
    account_sid: str
    friendly_name: str
    language: str
    variables: dict[str, str]
    types: dict[str, Any]
    date_created: datetime
    uses: frozenset[str] = frozenset()  # the {{variables}} its types hold
    approval: Approval | None = None
    plan: ApprovalPlan | None = None

    @property
    def content_type(self) -> str:
        """The template's main type (twilio/text only when it has no other)."""
        others = [t for t in self.types if t != "twilio/text"]
        return others[0] if others else "twilio/text"


@dataclass
class Faults:
    number_errors: dict[str, int] = field(default_factory=dict)
    account_error: int | None = None
    throttle_left: int = 0
    server_errors_left: int = 0
    server_error_status: int = 500
    # False: the 5xx comes before anything is made (Twilio's answer is as ambiguous).
    server_error_creates: bool = True
    delay_seconds: float = 0.0
    delay_left: int | None = None  # None: every create while delay_seconds > 0
    # The next creates make the message but answer with this in place of its sid.
    odd_sids_left: int = 0
    odd_sid: str = ""


@dataclass
class Account:
    sid: str
    auth_token: str
    senders: set[str]
    services: set[str]
    api_keys: dict[str, str] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    by_sid: dict[str, Message] = field(default_factory=dict)
    by_to: dict[str, list[Message]] = field(default_factory=dict)
    contents: dict[str, Content] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    approval_default: ApprovalPlan = field(default_factory=ApprovalPlan)
    # WhatsApp addresses whose 24-hour customer-service window is open (freeform allowed).
    open_windows: set[str] = field(default_factory=set)
    # SMS numbers that texted STOP (Twilio's opt-out): creates to them answer 21610.
    opted_out: set[str] = field(default_factory=set)
    # Whether the account's messages call back until a callback_plan says otherwise (the
    # process's --no-callbacks: tests ask for callbacks where they are the subject).
    callbacks_by_default: bool = True
    callbacks: Callbacks = field(default_factory=Callbacks)
    # The WhatsApp sender's install SID its callbacks carry (ChannelInstallSid).
    channel_install_sid: str = field(default_factory=lambda: new_sid("XE"))
    next_seq: int = 0

    def __post_init__(self) -> None:
        self.callbacks = self._fresh_callbacks()

    def _fresh_callbacks(self) -> Callbacks:
        return Callbacks(plan=Plan(enabled=self.callbacks_by_default))

    def sender_for(self, channel: str) -> str:
        """A sender of that channel (what a Messaging Service would pick)."""
        whatsapp = channel == "whatsapp"
        found = sorted(s for s in self.senders if s.startswith("whatsapp:") == whatsapp)
        return found[0] if found else ""

    def add_message(self, message: Message) -> None:
        self.messages.append(message)
        self.by_sid[message.sid] = message
        self.by_to.setdefault(message.to, []).append(message)

    def messages_before(self, pool: list[Message], cursor: Message | None) -> list[Message]:
        """`pool` (oldest first) cut to the messages older than `cursor`."""
        if cursor is None:
            return pool
        return pool[: bisect.bisect_left(pool, cursor.seq, key=lambda m: m.seq)]

    def reset(self) -> None:
        self.messages.clear()
        self.by_sid.clear()
        self.by_to.clear()
        self.contents.clear()
        self.open_windows.clear()
        self.opted_out.clear()
        self.callbacks = self._fresh_callbacks()
        self.faults = Faults()
        self.approval_default = ApprovalPlan()

    def describe(self) -> dict[str, Any]:
        return {
            "account_sid": self.sid,
            "auth_token": self.auth_token,
            "senders": sorted(self.senders),
            "messaging_service_sids": sorted(self.services),
            "api_keys": sorted(self.api_keys),
        }


class Store:
    def __init__(self, callbacks_by_default: bool = True) -> None:
        self.callbacks_by_default = callbacks_by_default
        self.accounts: dict[str, Account] = {}
        self.key_owner: dict[str, str] = {}  # API key SID → account SID

    def create_account(
        self,
        sid: str | None = None,
        auth_token: str | None = None,
        senders: list[str] | None = None,
        services: list[str] | None = None,
    ) -> Account:
        if len(self.accounts) >= MAX_ACCOUNTS:
            raise ValueError(f"at most {MAX_ACCOUNTS} accounts")
        sid = sid or new_sid("AC")
        if sid in self.accounts:
            raise ValueError(f"account {sid} exists")
        account = Account(
            sid=sid,
            auth_token=auth_token or secrets.token_hex(16),
            senders=set(senders if senders is not None else DEFAULT_SENDERS),
            services=set(services if services is not None else [new_sid("MG")]),
            callbacks_by_default=self.callbacks_by_default,
        )
        self.accounts[sid] = account
        return account

    def create_api_key(self, account: Account) -> tuple[str, str]:
        sid, secret = new_sid("SK"), secrets.token_hex(16)
        account.api_keys[sid] = secret
        self.key_owner[sid] = account.sid
        return sid, secret


# Twilio's magic test sender and its WhatsApp sandbox number.
DEFAULT_SENDERS = ("+15005550006", "whatsapp:+14155238886")
