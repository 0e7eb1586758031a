"""Refuses, before validation, any request whose text no database can store.

PostgreSQL text cannot hold U+0000, and UTF-8 (both databases) cannot encode an unpaired
surrogate (U+D800..U+DFFF, which JSON's "\\ud800" escape can produce). Such a value used to
reach SQL and come back as "Unexpected error." (or be stored on SQLite but not on
PostgreSQL). Checked once here, for every string argument, inline or in variables, of every
query, mutation and subscription, so no field can forget it.
"""

import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "Text may not contain NUL (U+0000) or unpaired surrogates (U+D800 to U+DFFF)."


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (variables), keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if _UNSTORABLE.search(node.value):
            self.found = True


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


class StorableText(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        literals = _Literals()
        if context.graphql_document is not None:
            visit(context.graphql_document, literals)
        if literals.found or not all(map(is_storable, _strings(context.variables))):
            # Set before validation runs, this is the request's answer (and skips validating).
            context.pre_execution_errors = [
                GraphQLError(MESSAGE, extensions={"code": "BAD_USER_INPUT"})
            ]
        yield
