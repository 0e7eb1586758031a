"""What content validation reports: a problem per field, each with a stable code."""

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    REQUIRED = "REQUIRED"  # missing, null or blank
    INVALID_TYPE = "INVALID_TYPE"  # the wrong JSON type (a number for a string, …)
    UNKNOWN_FIELD = "UNKNOWN_FIELD"  # a key this type (or action kind) does not have
    TOO_LONG = "TOO_LONG"  # a string over its length limit
    TOO_MANY = "TOO_MANY"  # a list, or one kind of button, over its count limit
    TOO_FEW = "TOO_FEW"  # a list under its minimum; a card with nothing beside its title
    TOO_LARGE = "TOO_LARGE"  # the context as a whole is over the size or depth cap
    OUT_OF_RANGE = "OUT_OF_RANGE"  # a number outside its range
    INVALID = "INVALID"  # a value outside its set (an action kind, a webview size)
    INVALID_CHARACTER = "INVALID_CHARACTER"  # a control character where Twilio takes none
    INVALID_URL = "INVALID_URL"  # not an absolute http(s) URL on a public host
    INVALID_PHONE = "INVALID_PHONE"  # not a valid number written in E.164
    NOT_ALLOWED = "NOT_ALLOWED"  # an action kind this content type does not take
    DUPLICATE = "DUPLICATE"  # two buttons with the same title, two quick replies with one id
    INVALID_VARIABLE = "INVALID_VARIABLE"  # a `{{…}}` whose key is malformed, or unclosed
    VARIABLE_NOT_ALLOWED = "VARIABLE_NOT_ALLOWED"  # a variable in a field that takes none
    VARIABLE_POSITION = "VARIABLE_POSITION"  # a variable where the rules forbid it
    MISSING_VALUE = "MISSING_VALUE"  # a variable with no value, or an empty one (21656)


@dataclass(frozen=True)
class Problem:
    field: tuple[str, ...]  # JSON path into contentContext, e.g. ("actions", "2", "title")
    message: str
    code: Code


class ContentError(ValueError):
    """Content that cannot be used as it is; `problems` says why, field by field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0] if problems else None
        detail = f"{'.'.join(first.field) or '(content)'}: {first.message}" if first else ""
        super().__init__(f"invalid content: {detail}")
