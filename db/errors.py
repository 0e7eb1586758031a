"""Typed business errors. Use cases raise them; the API turns them into `userErrors`."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    REQUIRED = "required"
    INVALID = "invalid"
    TOO_LONG = "too_long"
    OUT_OF_RANGE = "out_of_range"
    DUPLICATE = "duplicate"
    INVALID_STATE = "invalid_state"
    NOT_EDITABLE = "not_editable"
    EMPTY_AUDIENCE = "empty_audience"
    TEMPLATE_SYNTAX = "template_syntax"
    TEMPLATE_TOO_EXPENSIVE = "template_too_expensive"
    CURRENCY_MISMATCH = "currency_mismatch"
    MISSING_SENDER = "missing_sender"
    IN_USE = "in_use"
    TOO_MANY = "too_many"
    SEND_FAILED = "send_failed"
    HOST_NOT_ALLOWED = "host_not_allowed"
    RATE_LIMITED = "rate_limited"
    CHANNEL_SUSPENDED = "channel_suspended"
    QUOTA_EXCEEDED = "quota_exceeded"
    NOT_APPROVED = "not_approved"
    NOT_A_SERVICE_CAMPAIGN = "not_a_service_campaign"
    CAMPAIGN_NOT_ENABLED = "campaign_not_enabled"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request; `field` is the input path, e.g. ("input", "name")."""

    code: ErrorCode
    message: str
    field: tuple[str, ...] = ()


class DomainError(Exception):
    """A business rule refused the request; nothing was changed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        assert problems, "a DomainError needs at least one problem"
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))

    @classmethod
    def one(cls, code: ErrorCode, message: str, *field: str) -> "DomainError":
        return cls([Problem(code, message, tuple(field))])


def not_found(kind: str, *field: str) -> DomainError:
    return DomainError.one(ErrorCode.NOT_FOUND, f"{kind} not found.", *field)
