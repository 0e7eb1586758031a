"""Business failures as `userErrors`; everything else is a top-level error, masked if unexpected."""

import strawberry
from graphql import GraphQLError

from db.errors import DomainError
from graph.enums import UserErrorCode


@strawberry.type(description="A business rule refused the mutation; nothing was changed.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault (camelCase, e.g. ["contacts", "3", '
        '"email"]; inside a JSON input, its own keys as written: ["contentContext", '
        '"actions", "0", "webview_size"]), or null when the whole request is at fault.'
    )
    message: str = strawberry.field(description="Human-readable explanation.")
    code: UserErrorCode = strawberry.field(description="Machine-readable reason.")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# Inputs of the JSON scalar: the steps of a path below one are the JSON's own keys and
# indexes (contentContext.actions.0.webview_size, customVariables.first_name), kept as is;
# so are those below contentSid (the JSON of the template it names).
JSON_INPUTS = frozenset({"contentContext", "contentSid", "customVariables"})


def field_path(field: tuple[str, ...]) -> list[str] | None:
    """A problem's field as the API shows it: input names in camelCase, JSON keys as given."""
    out: list[str] = []
    for i, step in enumerate(field):
        out.append(camel(step))
        if out[-1] in JSON_INPUTS:
            return [*out, *field[i + 1 :]]
    return out or None


def user_errors(error: DomainError) -> list[UserError]:
    return [
        UserError(
            field=field_path(problem.field),
            message=problem.message,
            code=problem.code,
        )
        for problem in error.problems
    ]


class ClientError(GraphQLError):
    """A malformed request (bad paging arguments, unknown ID type): shown, never masked."""

    def __init__(self, message: str, code: str = "BAD_REQUEST") -> None:
        super().__init__(message, extensions={"code": code})


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; keep GraphQL's own validation errors and ClientErrors."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)
