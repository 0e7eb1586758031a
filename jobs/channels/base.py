"""The seam between the send engine and a channel family.

The engine (jobs/send.py) claims rows of the ledger, paces them, and records what
happened; a family's `Transport` turns claimed rows into messages (`prepare`) and sends
them (`send`), saying per row what happened in the neutral vocabulary of `Outcome`.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

# The most any one message may take a transport, connecting and logging in included. The
# send job's time budget counts on it (jobs/send.py).
MESSAGE_TIMEOUT_S = 45.0


class Outcome(StrEnum):
    SENT = "sent"  # the provider took it (`provider_id` names it when the provider does)
    FAILED = "failed"  # never to be sent to this recipient: the reason says why
    RETRY = "retry"  # not taken, worth another try later (throttled, a transient refusal)
    # Lost after the provider may have taken it: retried, flagged a possible duplicate
    # (a family that can look the message up does so before sending again).
    UNKNOWN = "unknown"
    UNSENT = "unsent"  # not attempted: back to pending, its quota returned
    OPTED_OUT = "opted_out"  # the recipient withdrew consent for this channel: never again


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reason: str = ""
    # The provider's id of the message (Twilio's MessageSid); "" when the family sets its
    # own id at the claim (email's Message-ID).
    provider_id: str = ""
    # The provider's error code when it gave one (Twilio's 21211, …); "" otherwise.
    error_code: str = ""
    # SENT by finding the row's message at the provider, the only one there: a row claimed
    # again as a possible duplicate is known to have exactly one copy.
    only_copy: bool = False


NOT_ATTEMPTED = SendResult(Outcome.UNSENT, "not attempted")


@dataclass(frozen=True)
class Recipient:
    """A claimed ledger row, as a transport sees it."""

    id: int
    contact_id: int
    # Channel-neutral recipient address: an email address, or a number in E.164.
    address: str
    # Our id for the message, set at the claim (email's Message-ID); may be "".
    message_id: str
    # The row's own variables (a lead's custom variables); contact fields come apart.
    variables: Mapping[str, str] = field(default_factory=dict)
    # Claimed again after an unknown outcome or an expired lease: the message may exist.
    possible_duplicate: bool = False
    # When the row was first claimed (the database's clock): none of its messages is older.
    first_claimed_at: datetime | None = None
    # The contact's fields content sees, read with the claim; None: the contact is gone.
    contact: Mapping[str, str] | None = None


class Prepared(Protocol):
    """A message ready to send for one recipient."""

    @property
    def units(self) -> int:
        """What it costs against the channel's rate limit (1; an SMS counts segments)."""
        ...


class Halt(Exception):
    """The channel cannot send now for any recipient (unreachable server, bad
    credentials, a provider-wide limit): the execution halts with this reason."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        # When to try again; None: the execution's usual halt delay.
        self.retry_after_s = retry_after_s


class ContentBroken(Exception):
    """The campaign's content cannot be sent to anyone (a template over the render
    budget, a content resource that is gone): the execution fails with this reason."""


class Transport(Protocol):
    """One run's connection to a channel family, made from the run's plan."""

    @property
    def pacing_window_s(self) -> float:
        """The rate limit's window: a second, plus the jitter between when a message is
        meant to go and when the provider sees it (jobs/pacing.py)."""
        ...

    async def prepare(self, rows: Sequence[Recipient]) -> list[Prepared | SendResult]:
        """Each row's message, or its result when it has none to send (e.g. its content
        failed to render for it). Raises ContentBroken when no row can have one."""
        ...

    async def send(
        self, messages: Sequence[Prepared], may_start: Callable[[], bool]
    ) -> tuple[list[SendResult], Halt | None]:
        """Sends the messages; one result per message, in order. A send starts only while
        `may_start()`; those never started are NOT_ATTEMPTED. Returns a Halt (with the
        untried messages NOT_ATTEMPTED) when the channel cannot send at all."""
        ...

    async def close(self) -> None:
        """Releases what the run holds (pooled connections may outlive it)."""
        ...
