"""Property-based fuzz of every query and mutation (schemathesis' GraphQL mode, hypothesis)
against a live server with a worker inside it (as `clarion serve` runs), over real HTTP.

Each operation is one test: a fresh account is seeded with a channel (to a real SMTP sink),
contacts, audiences, templates and campaigns (a draft, a running one, revenue), so that
generated requests get past "not found" often: every `ID` is drawn partly from that
account's real global IDs (and forged ones: other types, huge and negative numbers), every
`String` partly from its real codes and hostile text (NUL, control characters, newlines).

The property, for every response:
- never a 5xx (any other non-200 status is a refusal of the request: fine);
- a 200 is a GraphQL response (`data` and/or `errors`) whose `errors` are each either
  - raised before execution, so without a `path`: parse and validation errors, scalar
    coercion, the depth/token/alias limits, unstorable text (graph/storable_text.py); or
  - raised on purpose by a resolver: a `ClientError` (graph/errors.py), the only error
    that carries `extensions.code` (BAD_REQUEST for paging arguments, NOT_FOUND, ...);
  anything else (a masked "Unexpected error.", a null in a non-null field) is a bug.
Business refusals are `userErrors` inside `data`: answers, never bugs.
Subscriptions (WebSocket) are not fuzzed: schemathesis generates queries and mutations.

Bounded for CI: FUZZ_EXAMPLES requests per operation (CLARION_FUZZ_EXAMPLES to run longer by
hand), no per-example deadline, derandomised under CI=true so a failure reproduces.
"""

import asyncio
import base64
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.graphql import nodes

from graph.ids import encode_id
from tests.sending_stack import SendingStack, channel_for, sending_stack
from tests.smtp_sink import SmtpSink
from tests.support import GraphQLClient, import_contacts

ROOT = Path(__file__).resolve().parent.parent
FUZZ_EXAMPLES = int(os.environ.get("CLARION_FUZZ_EXAMPLES", "25"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PAGING_BACK = frozenset({"last", "after", "before"})
NODE_TYPES = ("Account", "Audience", "Campaign", "Contact", "EmailChannel", "EmailTemplate")


def _operations() -> list[str]:
    sdl = graphql.build_schema((ROOT / "schema.graphql").read_text())
    assert sdl.query_type is not None
    assert sdl.mutation_type is not None
    return [f"Query.{name}" for name in sdl.query_type.fields] + [
        f"Mutation.{name}" for name in sdl.mutation_type.fields
    ]


OPERATIONS = _operations()


# --- strategies for our scalars ------------------------------------------------------------

# Text a hostile client would send: control characters, NUL, a trailing newline, non-BMP.
HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "a@b.test\n",
        "a@b.test\r\nBcc: x@evil.test",
        "main\x00",
        "{{ 7 * 7 }}",
        "{% for i in range(3) %}x{% endfor %}",
        "{{",
        "\U0001f600",
        "\ud800",
        "x" * 300,
        "x" * 5000,
        # Grows when lower-cased (a length checked before normalising is not the stored one).
        "\u0130" * 100,
        "NaN",
        "-1",
    ]
)


def _decimals() -> st.SearchStrategy[graphql.ValueNode]:
    """Decimal as strings and numbers: huge, tiny, negative, NaN, Infinity, garbage."""
    numbers = st.decimals(allow_nan=True, allow_infinity=True)
    return st.one_of(
        numbers.map(nodes.String),
        st.sampled_from(["1E+999999", "1E-999999", "-0", "sNaN", "1e400", "0.001", "abc"]).map(
            nodes.String
        ),
        st.integers().map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
    )


def _datetimes() -> st.SearchStrategy[graphql.ValueNode]:
    """ISO datetimes: aware and naive, the extremes of the calendar with any offset, garbage."""
    offsets = st.sampled_from(["Z", "+00:00", "+14:00", "-14:00", "-00:01", "+05:30", ""])
    extremes = st.sampled_from(
        ["0001-01-01T00:00:00", "9999-12-31T23:59:59.999999", "2030-01-01T09:00:00", "1970-01-01"]
    )
    return st.one_of(
        st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
        st.tuples(extremes, offsets).map("".join),
        st.text(max_size=30),
    ).map(nodes.String)


@dataclass(frozen=True)
class Seeds:
    ids: tuple[str, ...]
    strings: tuple[str, ...]


def _forged_ids() -> st.SearchStrategy[str]:
    """IDs of our shape naming nothing (huge, negative, other types) and not of our shape."""
    forged = st.tuples(
        st.sampled_from(NODE_TYPES), st.integers(min_value=-(2**70), max_value=2**70)
    ).map(lambda t: base64.urlsafe_b64encode(f"{t[0]}:{t[1]}".encode()).decode().rstrip("="))
    return st.one_of(
        forged,
        st.integers(min_value=0, max_value=2**64).map(lambda n: encode_id("Campaign", n)),
        st.text(max_size=40),
    )


def register_scalars(seeds: Seeds) -> None:
    """Strategies for our custom scalars, and for Int, ID and String so that they hit real
    rows and real limits (schemathesis keeps them process-wide: each test sets its own)."""
    schemathesis.graphql.scalar("Decimal", _decimals())
    schemathesis.graphql.scalar("DateTime", _datetimes())
    # Page sizes, ports, quotas: often in range (the list is read), often not (refused).
    schemathesis.graphql.scalar(
        "Int",
        st.one_of(
            st.integers(min_value=0, max_value=100),
            st.integers(min_value=-(2**31), max_value=2**31 - 1),
        ).map(nodes.Int),
    )
    schemathesis.graphql.scalar(
        "ID", st.one_of(st.sampled_from(seeds.ids), _forged_ids()).map(nodes.String)
    )
    schemathesis.graphql.scalar(
        "String",
        st.one_of(st.sampled_from(seeds.strings), HOSTILE_TEXT, st.text(max_size=60)).map(
            nodes.String
        ),
    )


# --- the property --------------------------------------------------------------------------


def bug_in(status: int, body: Any) -> str | None:
    """Why a response shows a bug, or None when it is an answer (see the module docstring)."""
    if status >= 500:
        return f"HTTP {status}"
    if status != 200:
        return None
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        return "not a GraphQL response"
    for error in body.get("errors") or []:
        deliberate = "code" in (error.get("extensions") or {})
        if "path" in error and not deliberate:
            return f"error during execution: {error.get('message')!r} at {error['path']}"
    return None


def outcome(body: Any) -> str:
    """What a response was; the tally is printed (pytest -s) to show how deep requests go."""
    if not isinstance(body, dict):
        return "not JSON"
    if body.get("errors"):
        return "refused: " + str((body["errors"][0].get("extensions") or {}).get("code", "request"))
    for payload in (body.get("data") or {}).values():
        if isinstance(payload, dict) and payload.get("userErrors"):
            return "userErrors: " + str(payload["userErrors"][0].get("code"))
    return "data"


class _ForwardOnly(graphql.Visitor):
    def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
        return graphql.REMOVE if node.name.value in PAGING_BACK else None


def first_page(case: Any) -> Any:
    """The case without `last`, `after` and `before` (a generated list query mostly
    combines them into a paging refusal, so its filters were seldom read)."""
    try:
        document = graphql.parse(case.body)
    except graphql.GraphQLError:  # e.g. an unpaired surrogate: sent as generated
        return case
    case.body = graphql.print_ast(graphql.visit(document, _ForwardOnly()))
    return case


def fuzz_operation(url: str, key: str, label: str) -> None:
    """Runs the hypothesis test of one operation (blocking: call it in a thread)."""
    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.graphql.from_url(f"{url}/graphql", headers=headers)
    root, field = label.split(".")
    operation = schema[root][field]
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    # Mostly well-formed requests (they reach the resolvers); some malformed ones; for lists
    # also pages forward from the start, which reach the filters far more often.
    cases = st.one_of(
        positive, positive.map(first_page), positive, operation.as_strategy(GenerationMode.NEGATIVE)
    )
    session = requests.Session()
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        # Under CI the same examples every run; a failure prints the request that found it
        # (and a @reproduce_failure blob), so no example database is kept.
        derandomize=IN_CI,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=cases)
    def check(case: Any) -> None:
        response = case.call(base_url=url, session=session, headers=headers, timeout=60)
        try:
            body = response.json()
        except ValueError:
            body = None
        outcomes[outcome(body)] += 1
        problem = bug_in(response.status_code, body)
        assert problem is None, f"{problem}\nrequest: {case.body}\nresponse: {response.text}"

    try:
        check()
    finally:
        session.close()
        print(f"{label}: {dict(outcomes.most_common())}")


# --- the live server and the seeded account ------------------------------------------------


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as made:
        yield made


@pytest.fixture(scope="module")
async def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SendingStack]:
    async with sending_stack(
        tmp_path_factory.mktemp("fuzz"), workers=0, embedded_worker=True
    ) as made:
        yield made


async def seed(client: GraphQLClient, sink: SmtpSink) -> Seeds:
    """A channel to the sink, 3 contacts, a draft and a running campaign with revenue."""
    code = await channel_for(client, sink)
    await import_contacts(
        client,
        [{"email": f"c{i}@example.test", "firstName": f"N{i}", "tags": ["vip"]} for i in range(3)],
    )
    campaign_ids = []
    for name in ("Draft", "Running"):
        payload = await client.mutate(
            "createEmailCampaign",
            {
                "campaignName": name,
                "emailChannel": code,
                "contactTags": ["vip"],
                "subject": "Hello {{ first_name }}",
                "bodyHtml": "<p>Hi {{ first_name }}</p>",
            },
            "campaign { id }",
        )
        assert payload["userErrors"] == [], payload
        campaign_ids.append(payload["campaign"]["id"])
    started = await client.mutate("startCampaign", {"id": campaign_ids[1]}, "campaign { id }")
    assert started["userErrors"] == [], started
    ltv = await client.mutate(
        "addLtv",
        {"campaignId": campaign_ids[0], "value": "12.50", "currency": "EUR"},
        "campaign { id }",
    )
    assert ltv["userErrors"] == [], ltv
    everything = await client.gql(
        """{ viewer { id }
        campaigns(first: 100) { edges { cursor node { id } } }
        contacts(first: 100) { edges { cursor node { id email tags } } }
        audiences(first: 100) { edges { cursor node { id code } } }
        emailChannels(first: 100) { edges { cursor node { id code } } }
        emailTemplates(first: 100) { edges { cursor node { id code } } } }"""
    )
    ids = [everything["viewer"]["id"]]
    strings = ["vip", "EUR", "USD", "news@acme.test", "Spring"]
    for connection in ("campaigns", "contacts", "audiences", "emailChannels", "emailTemplates"):
        for edge in everything[connection]["edges"]:
            strings.append(edge["cursor"])  # for `after` / `before`
            node = edge["node"]
            ids.append(node["id"])
            strings.extend(v for k, v in node.items() if k in ("code", "email"))
    return Seeds(ids=tuple(ids), strings=tuple(strings))


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_no_request_finds_a_bug(
    fuzz_stack: SendingStack, sink: SmtpSink, operation: str
) -> None:
    client = await fuzz_stack.client("Fuzz")
    try:
        register_scalars(await seed(client, sink))
        await asyncio.to_thread(fuzz_operation, fuzz_stack.server.url, client.key, operation)
    finally:
        await client.http.aclose()


def test_every_operation_is_fuzzed() -> None:
    """The parametrisation follows the schema: a new query or mutation is fuzzed too."""
    assert "Mutation.createEmailCampaign" in OPERATIONS
    assert "Query.viewer" in OPERATIONS
    assert len(OPERATIONS) == len(set(OPERATIONS)) > 30


@pytest.mark.parametrize(
    ("status", "body", "bug"),
    [
        (200, {"data": {"viewer": {"id": "x"}}}, False),
        (200, {"data": {"addLtv": {"userErrors": [{"code": "INVALID"}]}}}, False),
        (200, {"data": None, "errors": [{"message": "Syntax Error: ..."}]}, False),
        (
            200,
            {
                "data": None,
                "errors": [{"message": "No", "path": ["x"], "extensions": {"code": "BAD_REQUEST"}}],
            },
            False,
        ),
        (401, {"errors": [{"message": "A valid API key is required"}]}, False),
        (413, "Request body too large", False),
        (
            200,
            {"data": None, "errors": [{"message": "Unexpected error.", "path": ["addLtv"]}]},
            True,
        ),
        (
            200,
            {
                "data": None,
                "errors": [
                    {"message": "Cannot return null for non-nullable field", "path": ["a", "b"]}
                ],
            },
            True,
        ),
        (200, ["not", "an", "object"], True),
        (200, {}, True),
        (500, "Internal Server Error", True),
        (502, None, True),
    ],
)
def test_what_counts_as_a_bug(status: int, body: Any, bug: bool) -> None:
    assert (bug_in(status, body) is not None) is bug
