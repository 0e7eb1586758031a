"""The size cap of a content context, checked before any rule looks at it.

At most `MAX_NODES` values in all (every list item and object member), containers nested
at most `MAX_DEPTH` deep (context → actions → one action → a wrong-typed value there,
which is then reported at its own path), and `MAX_JSON_CHARS` characters of JSON text.
The largest valid context (a card with ten buttons, or ten media URLs) is far inside.
"""

import json

from jobs.channels.twilio.problems import Code, ContentError, Problem

MAX_NODES = 500
MAX_DEPTH = 4
MAX_JSON_CHARS = 65_536


def size_problem(context: dict[object, object]) -> Problem | None:
    """The cap, without recursion; a container's length is read before its items."""
    budget = MAX_NODES
    stack: list[tuple[object, int]] = [(context, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            return Problem((), f"nested deeper than {MAX_DEPTH} levels", Code.TOO_LARGE)
        if len(node) > budget:
            return Problem((), f"more than {MAX_NODES} values in all", Code.TOO_LARGE)
        budget -= len(node)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)
    return None


def load_context(text: str) -> object:
    """Parse a stored or submitted context, refusing over-long or over-deep JSON."""
    if len(text) > MAX_JSON_CHARS:
        raise ContentError([Problem((), f"over {MAX_JSON_CHARS} characters", Code.TOO_LARGE)])
    try:
        return json.loads(text)
    except RecursionError:
        raise ContentError([Problem((), "nested too deep", Code.TOO_LARGE)]) from None
    except json.JSONDecodeError as error:
        raise ContentError([Problem((), f"not JSON: {error.msg}", Code.INVALID_TYPE)]) from None
    except ValueError:  # an integer too long to convert
        raise ContentError([Problem((), "not usable JSON", Code.INVALID_TYPE)]) from None
