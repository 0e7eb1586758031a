"""Twilio content rules: every limit at its edge and one past it, variables, previews,
the Content API mapping, and hostile input (jobs/channels/twilio/content.py)."""

import copy
import time
from collections.abc import Callable

import pytest

from jobs.channels.twilio import variables
from jobs.channels.twilio.content import (
    MAX_JSON_CHARS,
    TWILIO_TYPES,
    ContentType,
    check_values,
    context_variables,
    from_twilio_types,
    load_context,
    missing,
    render,
    to_twilio_types,
    twilio_variables,
    validate,
    variables_supported,
)
from jobs.channels.twilio.problems import Code, ContentError, Problem

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

T = ContentType
Found = list[tuple[tuple[str, ...], Code]]

OK: dict[ContentType, dict[str, object]] = {
    T.TEXT: {"body": "Hello {{lead_name}}, welcome."},
    T.MEDIA: {
        "body": "Your ticket, {{lead_name}}.",
        "media": ["https://cdn.example.com/t/{{ticket}}.pdf"],
    },
    T.QUICK_REPLY: {
        "body": "Coming on Friday, {{lead_name}}?",
        "actions": [
            {"type": "QUICK_REPLY", "title": "Yes", "id": "yes"},
            {"title": "No", "id": "no"},
        ],
    },
    T.CALL_TO_ACTION: {
        "body": "Order {{order_id}} has shipped.",
        "actions": [
            {"type": "URL", "title": "Track", "url": "https://shop.example.com/track/{{order_id}}"},
            {"type": "PHONE_NUMBER", "title": "Call us", "phone": "+14155550100"},
            {"type": "COPY_CODE", "title": "Copy code", "code": "SAVE10"},
        ],
    },
    T.CARD: {
        "title": "Hi {{lead_name}}, new arrivals",
        "subtitle": "Reply STOP to opt out",
        "media": ["https://cdn.example.com/a.png"],
        "actions": [
            {"type": "URL", "title": "Shop", "url": "https://shop.example.com/{{path}}"},
            {"type": "QUICK_REPLY", "title": "Later", "id": "later"},
        ],
    },
}
VOICE = {"type": "VOICE_CALL", "title": "Call on WhatsApp", "ttl_minutes": 10_080}


def found(problems: list[Problem]) -> Found:
    return [(p.field, p.code) for p in problems]


def edit(kind: ContentType, change: Callable[[dict[str, object]], object]) -> dict[str, object]:
    context = copy.deepcopy(OK[kind])
    change(context)
    return context


def put(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, object]], None]:
    def change(context: dict[str, object]) -> None:
        holder: object = context
        for step in path[:-1]:
            holder = holder[step]  # type: ignore[index]
        holder[path[-1]] = value  # type: ignore[index]

    return change


def checked(kind: ContentType, context: object, *, whatsapp: bool = True) -> Found:
    """Validate, and show that validation changed nothing in what it was given."""
    before = copy.deepcopy(context)
    result = found(validate(kind, context, whatsapp=whatsapp))
    assert context == before
    return result


@pytest.mark.parametrize("kind", list(T))
@pytest.mark.parametrize("whatsapp", [True, False])
def test_the_sample_of_every_type_is_accepted(kind: ContentType, whatsapp: bool) -> None:
    assert checked(kind, OK[kind], whatsapp=whatsapp) == []


def test_the_spec_example_is_accepted() -> None:
    body = {"body": "Hi {{lead_name}}, your order {{order_id}} is confirmed!"}
    assert checked(T.TEXT, body) == []
    assert context_variables(T.TEXT, body) == ["lead_name", "order_id"]


URL_HEAD = "https://shop.example.com/"
LIMITS = [
    # (type, path, value at the limit, value one past it)
    (T.TEXT, ("body",), "a" * 1600, "a" * 1601),
    (T.MEDIA, ("body",), "a" * 1600, "a" * 1601),
    (T.QUICK_REPLY, ("body",), "a" * 1024, "a" * 1025),
    (T.CALL_TO_ACTION, ("body",), "a" * 640, "a" * 641),
    (T.CARD, ("title",), "a" * 1024, "a" * 1025),
    (T.CARD, ("subtitle",), "a" * 60, "a" * 61),
    (T.QUICK_REPLY, ("actions", 0, "title"), "t" * 20, "t" * 21),
    (T.QUICK_REPLY, ("actions", 1, "id"), "i" * 200, "i" * 201),
    (T.CALL_TO_ACTION, ("actions", 0, "title"), "t" * 20, "t" * 21),
    (T.CALL_TO_ACTION, ("actions", 1, "title"), "t" * 20, "t" * 21),
    (T.CALL_TO_ACTION, ("actions", 2, "code"), "C" * 15, "C" * 16),
    (T.CALL_TO_ACTION, ("actions", 0, "url"), URL_HEAD + "p" * 1975, URL_HEAD + "p" * 1976),
    (T.CARD, ("actions", 1, "title"), "t" * 20, "t" * 21),
    (T.MEDIA, ("media", 0), URL_HEAD + "p" * 1975, URL_HEAD + "p" * 1976),
]


@pytest.mark.parametrize(("kind", "path", "at_limit", "past"), LIMITS)
def test_lengths_at_the_limit_and_one_past(
    kind: ContentType, path: tuple[str | int, ...], at_limit: str, past: str
) -> None:
    assert checked(kind, edit(kind, put(path, at_limit))) == []
    field = tuple(str(step) for step in path)
    assert checked(kind, edit(kind, put(path, past))) == [(field, Code.TOO_LONG)]


def qr(n: int) -> dict[str, object]:
    return {"type": "QUICK_REPLY", "title": f"Option {n}", "id": f"o{n}"}


def url(n: int) -> dict[str, object]:
    return {"type": "URL", "title": f"Link {n}", "url": f"https://example.com/{n}"}


PHONE = {"type": "PHONE_NUMBER", "title": "Call", "phone": "+442071838750"}
COPY = {"type": "COPY_CODE", "title": "Copy", "code": "X1"}
COUNTS = [
    # (type, actions at the limit, actions one past it, what the past one is refused with)
    (
        T.QUICK_REPLY,
        [qr(n) for n in range(10)],
        [qr(n) for n in range(11)],
        (("actions",), Code.TOO_MANY),
    ),
    (T.QUICK_REPLY, [qr(0)], [], (("actions",), Code.TOO_FEW)),
    (
        T.CALL_TO_ACTION,
        [url(0), url(1)],
        [url(0), url(1), url(2)],
        (("actions", "2"), Code.TOO_MANY),
    ),
    (T.CALL_TO_ACTION, [url(0), PHONE], [url(0), PHONE, VOICE], (("actions", "2"), Code.TOO_MANY)),
    (T.CALL_TO_ACTION, [VOICE], [VOICE, PHONE], (("actions", "1"), Code.TOO_MANY)),
    (
        T.CALL_TO_ACTION,
        [COPY],
        [COPY, {**COPY, "title": "Other"}],
        (("actions", "1"), Code.TOO_MANY),
    ),
    (
        T.CALL_TO_ACTION,
        [url(0), url(1), PHONE, COPY],
        [url(0), url(1), PHONE, COPY, url(3)],
        (("actions",), Code.TOO_MANY),
    ),
    (T.CALL_TO_ACTION, [url(0)], [], (("actions",), Code.TOO_FEW)),
    (
        T.CARD,
        [url(0), url(1), PHONE, COPY, *(qr(n) for n in range(6))],
        [url(0), url(1), PHONE, COPY, *(qr(n) for n in range(7))],
        (("actions",), Code.TOO_MANY),
    ),
    (T.CARD, [url(0), url(1)], [url(0), url(1), url(2)], (("actions", "2"), Code.TOO_MANY)),
    (T.CARD, [PHONE], [PHONE, VOICE], (("actions", "1"), Code.TOO_MANY)),
    (T.CARD, [COPY], [COPY, {**COPY, "title": "Again"}], (("actions", "1"), Code.TOO_MANY)),
]


@pytest.mark.parametrize(("kind", "at_limit", "past", "refusal"), COUNTS)
def test_button_counts_and_kinds_at_the_limit_and_one_past(
    kind: ContentType,
    at_limit: list[object],
    past: list[object],
    refusal: tuple[tuple[str, ...], Code],
) -> None:
    assert checked(kind, edit(kind, put(("actions",), at_limit))) == []
    assert checked(kind, edit(kind, put(("actions",), past))) == [refusal]


@pytest.mark.parametrize(
    ("kind", "whatsapp", "most"),
    [(T.MEDIA, True, 1), (T.MEDIA, False, 10), (T.CARD, True, 1), (T.CARD, False, 1)],
)
def test_media_counts(kind: ContentType, whatsapp: bool, most: int) -> None:
    item = "https://cdn.example.com/a.png"
    assert checked(kind, edit(kind, put(("media",), [item] * most)), whatsapp=whatsapp) == []
    past = edit(kind, put(("media",), [item] * (most + 1)))
    assert checked(kind, past, whatsapp=whatsapp) == [(("media",), Code.TOO_MANY)]


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        (1, []),
        (43_200, []),
        (0, Code.OUT_OF_RANGE),
        (43_201, Code.OUT_OF_RANGE),
        (-5, Code.OUT_OF_RANGE),
        ("60", Code.INVALID_TYPE),
        (60.0, Code.INVALID_TYPE),
        (True, Code.INVALID_TYPE),
    ],
)
def test_voice_call_ttl_minutes(ttl: object, expected: object) -> None:
    context = edit(T.CALL_TO_ACTION, put(("actions", 1), {**VOICE, "ttl_minutes": ttl}))
    want = [] if expected == [] else [(("actions", "1", "ttl_minutes"), expected)]
    assert checked(T.CALL_TO_ACTION, context) == want


def test_voice_call_ttl_minutes_may_be_left_out() -> None:
    voice = {"type": "VOICE_CALL", "title": "Call on WhatsApp"}
    assert checked(T.CALL_TO_ACTION, edit(T.CALL_TO_ACTION, put(("actions", 1), voice))) == []


@pytest.mark.parametrize(
    ("kind", "action", "refusal"),
    [
        (T.QUICK_REPLY, url(0), (("actions", "0", "type"), Code.NOT_ALLOWED)),
        (T.CALL_TO_ACTION, qr(0), (("actions", "0", "type"), Code.NOT_ALLOWED)),
        (
            T.CALL_TO_ACTION,
            {**url(0), "type": "VOICE_CALL_REQUEST"},
            (("actions", "0", "type"), Code.INVALID),
        ),
        (T.CARD, {**url(0), "type": "url"}, (("actions", "0", "type"), Code.INVALID)),
        (T.CARD, {"title": "No type"}, (("actions", "0", "type"), Code.REQUIRED)),
        (T.CALL_TO_ACTION, {"type": None, "title": "x"}, (("actions", "0", "type"), Code.REQUIRED)),
        (T.CARD, {**url(0), "type": 7}, (("actions", "0", "type"), Code.INVALID_TYPE)),
    ],
)
def test_button_kinds(
    kind: ContentType, action: object, refusal: tuple[tuple[str, ...], Code]
) -> None:
    assert checked(kind, edit(kind, put(("actions",), [action]))) == [refusal]


REQUIRED = [
    (T.TEXT, {}, [(("body",), Code.REQUIRED)]),
    (T.TEXT, {"body": None}, [(("body",), Code.REQUIRED)]),
    (T.TEXT, {"body": " \n "}, [(("body",), Code.REQUIRED)]),
    (T.MEDIA, {"body": "x"}, [(("media",), Code.REQUIRED)]),
    (T.MEDIA, {"media": []}, [(("media",), Code.REQUIRED)]),
    (
        T.MEDIA,
        {"media": ["https://cdn.example.com/a.png"], "body": ""},
        [(("body",), Code.REQUIRED)],
    ),
    (T.QUICK_REPLY, {"body": "x y"}, [(("actions",), Code.REQUIRED)]),
    (T.CALL_TO_ACTION, {"actions": [url(0)]}, [(("body",), Code.REQUIRED)]),
    (T.CARD, {"subtitle": "s"}, [(("title",), Code.REQUIRED)]),
    (T.CARD, {"title": "Only a title"}, [((), Code.TOO_FEW)]),
    (T.CARD, {"title": "t", "media": [], "actions": []}, [((), Code.TOO_FEW)]),
    (
        T.CALL_TO_ACTION,
        {"body": "b", "actions": [{"type": "URL", "title": "t"}]},
        [(("actions", "0", "url"), Code.REQUIRED)],
    ),
    (
        T.CALL_TO_ACTION,
        {"body": "b", "actions": [{"type": "PHONE_NUMBER", "title": "t"}]},
        [(("actions", "0", "phone"), Code.REQUIRED)],
    ),
    (
        T.CALL_TO_ACTION,
        {"body": "b", "actions": [{"type": "COPY_CODE", "title": "t"}]},
        [(("actions", "0", "code"), Code.REQUIRED)],
    ),
    (
        T.CALL_TO_ACTION,
        {"body": "b", "actions": [{"type": "URL", "url": "https://a.example.com/"}]},
        [(("actions", "0", "title"), Code.REQUIRED)],
    ),
    (
        T.QUICK_REPLY,
        {"body": "b", "actions": [{"title": " "}]},
        [(("actions", "0", "title"), Code.REQUIRED)],
    ),
    (
        T.QUICK_REPLY,
        {"body": "b", "actions": [{"title": "t", "id": ""}]},
        [(("actions", "0", "id"), Code.REQUIRED)],
    ),
]


@pytest.mark.parametrize(("kind", "context", "expected"), REQUIRED)
def test_required_fields(kind: ContentType, context: dict[str, object], expected: Found) -> None:
    assert checked(kind, context) == expected


@pytest.mark.parametrize(
    ("kind", "context", "expected"),
    [
        (T.TEXT, {"body": 5}, [(("body",), Code.INVALID_TYPE)]),
        (T.TEXT, {"body": True}, [(("body",), Code.INVALID_TYPE)]),
        (T.TEXT, {"body": ["x"]}, [(("body",), Code.INVALID_TYPE)]),
        (T.MEDIA, {"media": "https://cdn.example.com/a.png"}, [(("media",), Code.INVALID_TYPE)]),
        (
            T.MEDIA,
            {"media": [{"url": "https://cdn.example.com/a.png"}]},
            [(("media", "0"), Code.INVALID_TYPE)],
        ),
        (
            T.QUICK_REPLY,
            {"body": "b", "actions": {"0": qr(0)}},
            [(("actions",), Code.INVALID_TYPE)],
        ),
        (T.QUICK_REPLY, {"body": "b", "actions": ["Yes"]}, [(("actions", "0"), Code.INVALID_TYPE)]),
        (
            T.QUICK_REPLY,
            {"body": "b", "actions": [{"title": 1}]},
            [(("actions", "0", "title"), Code.INVALID_TYPE)],
        ),
        (T.CARD, {"title": "t", "subtitle": {"a": 1}}, [(("subtitle",), Code.INVALID_TYPE)]),
        (
            T.CALL_TO_ACTION,
            {"body": "b", "actions": [{**PHONE, "phone": 14155550100}]},
            [(("actions", "0", "phone"), Code.INVALID_TYPE)],
        ),
        (
            T.CALL_TO_ACTION,
            {"body": "b", "actions": [{**url(0), "url": ["https://a.example.com/"]}]},
            [(("actions", "0", "url"), Code.INVALID_TYPE)],
        ),
    ],
)
def test_wrong_json_types_are_refused(
    kind: ContentType, context: dict[str, object], expected: Found
) -> None:
    assert checked(kind, context) == expected


@pytest.mark.parametrize("context", [None, [], ["body"], "Hello", 5, 1.5, True])
@pytest.mark.parametrize("kind", list(T))
def test_a_context_that_is_not_an_object_is_refused(kind: ContentType, context: object) -> None:
    assert checked(kind, context) == [((), Code.INVALID_TYPE)]


@pytest.mark.parametrize(
    ("kind", "context", "expected"),
    [
        (T.TEXT, {"body": "x", "footer": "y"}, [(("footer",), Code.UNKNOWN_FIELD)]),
        (T.TEXT, {"body": "x", 1: "y"}, [(("1",), Code.UNKNOWN_FIELD)]),
        (T.CARD, {**OK[T.CARD], "body": "x"}, [(("body",), Code.UNKNOWN_FIELD)]),
        (T.MEDIA, {**OK[T.MEDIA], "actions": []}, [(("actions",), Code.UNKNOWN_FIELD)]),
        (
            T.CALL_TO_ACTION,
            {"body": "b", "actions": [{**url(0), "phone": "+14155550100"}]},
            [(("actions", "0", "phone"), Code.UNKNOWN_FIELD)],
        ),
        (
            T.CALL_TO_ACTION,
            {"body": "b", "actions": [{**url(0), "webview_size": "TALL"}]},
            [(("actions", "0", "webview_size"), Code.UNKNOWN_FIELD)],
        ),
        (
            T.QUICK_REPLY,
            {"body": "b", "actions": [{**qr(0), "payload": "p"}]},
            [(("actions", "0", "payload"), Code.UNKNOWN_FIELD)],
        ),
        (T.CARD, {"title": "t", "actions": [{**url(0), "webview_size": "TALL"}]}, []),
        (
            T.CARD,
            {"title": "t", "actions": [{**url(0), "webview_size": "HUGE"}]},
            [(("actions", "0", "webview_size"), Code.INVALID)],
        ),
    ],
)
def test_unknown_keys_are_refused(
    kind: ContentType, context: dict[object, object], expected: Found
) -> None:
    assert checked(kind, context) == expected


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("+14155550100", None),
        ("+442071838750", None),
        ("+1 415 555 0100", Code.INVALID_PHONE),
        ("14155550100", Code.INVALID_PHONE),
        ("+1415555", Code.INVALID_PHONE),
        ("+10000000000", Code.INVALID_PHONE),
        ("+١٤١٥٥٥٥٠١٠٠", Code.INVALID_PHONE),  # Arabic-Indic digits
        ("+1" + "4" * 15, Code.INVALID_PHONE),
        ("+1415555{{n}}", Code.VARIABLE_NOT_ALLOWED),
        ("", Code.REQUIRED),
    ],
)
def test_phone_buttons_take_e164_only(phone: str, code: Code | None) -> None:
    context = {"body": "b", "actions": [{**PHONE, "phone": phone}]}
    expected = [] if code is None else [(("actions", "0", "phone"), code)]
    assert checked(T.CALL_TO_ACTION, context) == expected


@pytest.mark.parametrize(
    ("link", "code"),
    [
        ("https://shop.example.com/a?b=c#d", None),
        ("http://shop.example.com", None),
        ("https://8.8.8.8/x", None),
        ("https://shop.example.com/track/{{order_id}}", None),
        ("https://shop.example.com/?order={{order_id}}", None),
        ("ftp://shop.example.com/x", Code.INVALID_URL),
        ("javascript:alert(1)", Code.INVALID_URL),
        ("shop.example.com/x", Code.INVALID_URL),
        ("https://localhost/x", Code.INVALID_URL),
        ("https://intranet/x", Code.INVALID_URL),
        ("http://10.0.0.1/x", Code.INVALID_URL),
        ("http://[::1]/x", Code.INVALID_URL),
        ("https://user:pw@shop.example.com/", Code.INVALID_URL),
        ("https://shop.example.com:99999/", Code.INVALID_URL),
        ("https://shop.example.com/a b", Code.INVALID_URL),
        ("https://shop.example.com/\x00", Code.INVALID_URL),
        ("https://shop.example.com/{{a}}/x", Code.VARIABLE_POSITION),
        ("https://shop.example.com/{{a}}{{b}}", Code.VARIABLE_POSITION),
        ("https://{{host}}", Code.VARIABLE_POSITION),
        ("https://shop.example.{{tld}}", Code.VARIABLE_POSITION),
        ("{{whole_url}}", Code.VARIABLE_POSITION),
        ("https://shop.example.com/{{bad-key}}", Code.INVALID_VARIABLE),
        ("https://evil.example.com\\.shop.example.com/", Code.INVALID_URL),
        ("http://127.1/x", Code.INVALID_URL),
        ("http://0x7f.1/x", Code.INVALID_URL),
        ("http://2130706433/x", Code.INVALID_URL),
        ("https://router.home.arpa/x", Code.INVALID_URL),
        ("https://xn--bcher-kva.example/x", None),
        ("https://bücher.example/x", None),
        ("https://shop.example.com/{{ spaced }}", Code.INVALID_URL),
    ],
)
def test_url_buttons(link: str, code: Code | None) -> None:
    context = {"body": "b", "actions": [{**url(0), "url": link}]}
    expected = [] if code is None else [(("actions", "0", "url"), code)]
    assert checked(T.CALL_TO_ACTION, context) == expected


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ("https://cdn.example.com/{{folder}}/{{file}}.png", None),
        ("https://cdn.example.com/a.png?v={{version}}", None),
        ("https://{{cdn}}/a.png", Code.VARIABLE_POSITION),
        ("https://cdn.{{d}}.com/a.png", Code.VARIABLE_POSITION),
        ("file:///etc/passwd", Code.INVALID_URL),
        ("https://127.0.0.1/a.png", Code.INVALID_URL),
        ("https://printer.local/a.png", Code.INVALID_URL),
        ("", Code.REQUIRED),
    ],
)
def test_media_urls(item: str, code: Code | None) -> None:
    expected = [] if code is None else [(("media", "0"), code)]
    assert checked(T.MEDIA, {"media": [item]}) == expected


# -- variables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        (T.TEXT, ("body",)),
        (T.MEDIA, ("body", "media")),
        (T.CARD, ("title", "media", "actions")),
        (T.CALL_TO_ACTION, ("body", "actions")),
        (T.QUICK_REPLY, ("body",)),
    ],
)
def test_variables_supported(kind: ContentType, fields: tuple[str, ...]) -> None:
    assert variables_supported(kind) == fields


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        (T.QUICK_REPLY, ("actions", 0, "title"), "Yes {{x}}"),
        (T.QUICK_REPLY, ("actions", 0, "id"), "yes-{{x}}"),
        (T.CALL_TO_ACTION, ("actions", 0, "title"), "Track {{x}}"),
        (T.CALL_TO_ACTION, ("actions", 2, "code"), "{{code}}"),
        (T.CARD, ("subtitle",), "From {{shop}} with love"),
        (T.CARD, ("actions", 1, "title"), "Later {{x}}"),
    ],
)
def test_a_variable_where_none_is_allowed(
    kind: ContentType, path: tuple[str | int, ...], value: str
) -> None:
    field = tuple(str(step) for step in path)
    assert checked(kind, edit(kind, put(path, value))) == [(field, Code.VARIABLE_NOT_ALLOWED)]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("Hi {{lead_name}} there", None),
        ("Hi {{_x9}} there", None),
        ("Hi {{1}} and {{2}} there", None),
        ("Hi {{" + "k" * 16 + "}} there", None),
        ("Hi {{" + "k" * 17 + "}} there", Code.INVALID_VARIABLE),
        ("Hi {{ lead_name }} there", Code.INVALID_VARIABLE),
        ("Hi {{}} there", Code.INVALID_VARIABLE),
        ("Hi {{lead-name}} there", Code.INVALID_VARIABLE),
        ("Hi {{01}} there", Code.INVALID_VARIABLE),
        ("Hi {{9name}} there", Code.INVALID_VARIABLE),
        ("Hi {{é}} there", Code.INVALID_VARIABLE),
        ("Hi {{lead_name there", Code.INVALID_VARIABLE),
        ("Hi {lead_name} there", None),  # single braces are plain text
    ],
)
def test_variable_keys(body: str, code: Code | None) -> None:
    expected = [] if code is None else [(("body",), code)]
    assert checked(T.TEXT, {"body": body}) == expected


@pytest.mark.parametrize(
    ("body", "refused_on_whatsapp"),
    [
        ("Hi {{name}}, welcome.", False),
        ("Hi {{name}}.", False),
        ("{{name}}, welcome.", True),
        ("  {{name}}, welcome.", True),
        ("Welcome, {{name}}", True),
        ("Welcome, {{name}}\n", True),
        ("Hi {{first}}{{last}}, welcome.", True),
        ("Hi {{first}} {{last}}, welcome.", True),
        ("Hi {{first}} and {{last}}, welcome.", False),
    ],
)
def test_whatsapp_approval_rules_for_bodies(body: str, refused_on_whatsapp: bool) -> None:
    assert checked(T.TEXT, {"body": body}, whatsapp=False) == []
    expected = [(("body",), Code.VARIABLE_POSITION)] if refused_on_whatsapp else []
    assert checked(T.TEXT, {"body": body}, whatsapp=True) == expected
    card = {"title": body, "subtitle": "s"}
    card_expected = [(("title",), Code.VARIABLE_POSITION)] if refused_on_whatsapp else []
    assert checked(T.CARD, card, whatsapp=True) == card_expected


def test_a_malformed_variable_is_reported_once() -> None:
    assert checked(T.TEXT, {"body": "{{bad key}} x"}) == [(("body",), Code.INVALID_VARIABLE)]


@pytest.mark.parametrize(
    ("kind", "buttons", "refusal"),
    [
        (
            T.QUICK_REPLY,
            [qr(0), {**qr(1), "title": " option 0 "}],
            (("actions", "1", "title"), Code.DUPLICATE),
        ),
        (T.QUICK_REPLY, [qr(0), {**qr(1), "id": "o0"}], (("actions", "1", "id"), Code.DUPLICATE)),
        (
            T.CARD,
            [url(0), {**qr(1), "title": "LINK 0"}],
            (("actions", "1", "title"), Code.DUPLICATE),
        ),
        (
            T.CALL_TO_ACTION,
            [url(0), {**url(1), "title": "Link 0"}],
            (("actions", "1", "title"), Code.DUPLICATE),
        ),
    ],
)
def test_duplicate_button_titles_and_quick_reply_ids(
    kind: ContentType, buttons: list[object], refusal: tuple[tuple[str, ...], Code]
) -> None:
    assert checked(kind, edit(kind, put(("actions",), buttons))) == [refusal]


def test_at_most_100_variables() -> None:
    hundred = "x " + " ".join(f"{{{{v{n}}}}} w" for n in range(100))
    assert checked(T.TEXT, {"body": hundred}) == []
    assert len(context_variables(T.TEXT, {"body": hundred})) == 100
    over = "x " + " ".join(f"{{{{v{n}}}}} w" for n in range(101))
    assert checked(T.TEXT, {"body": over}) == [((), Code.TOO_MANY)]
    # The same variable used twice counts once.
    assert checked(T.TEXT, {"body": hundred + " {{v0}} w"}) == []


@pytest.mark.parametrize(
    ("kind", "context", "expected"),
    [
        (T.TEXT, {"body": "a {{b}} {{a}} {{b}} c"}, ["b", "a"]),
        (
            T.MEDIA,
            {"media": ["https://cdn.example.com/{{m}}.png"], "body": "x {{b}} y"},
            ["b", "m"],
        ),
        (T.CALL_TO_ACTION, OK[T.CALL_TO_ACTION], ["order_id"]),
        (T.CARD, OK[T.CARD], ["lead_name", "path"]),
        (
            T.CARD,
            {"actions": [url(0)], "title": "x {{t}} y", "media": ["https://cdn.example.com/{{m}}"]},
            ["t", "m"],
        ),
        (T.QUICK_REPLY, OK[T.QUICK_REPLY], ["lead_name"]),
        (T.TEXT, "not an object", []),
        (T.TEXT, {"body": 5}, []),
    ],
)
def test_context_variables_in_order_each_once(
    kind: ContentType, context: object, expected: list[str]
) -> None:
    assert context_variables(kind, context) == expected


def test_missing_values_and_empty_values() -> None:
    context = {"body": "Hi {{name}}, order {{order}} from {{shop}} ok"}
    assert missing(T.TEXT, context, {"name": "Ana", "order": "7", "shop": "S"}) == []
    values: dict[str, object] = {"name": "", "order": " ", "extra": "unused"}
    assert missing(T.TEXT, context, values) == ["name", "order", "shop"]
    assert missing(T.TEXT, context, {"name": 5, "order": None, "shop": "S"}) == ["name", "order"]


@pytest.mark.parametrize(
    ("value", "whatsapp", "code"),
    [
        ("Ana", True, None),
        ("a" * 1600, True, None),
        ("a" * 1601, False, Code.TOO_LONG),
        ("", False, Code.MISSING_VALUE),
        ("   ", True, Code.MISSING_VALUE),
        (None, True, Code.MISSING_VALUE),
        (7, True, Code.INVALID_TYPE),
        ("line\nbreak", False, None),
        ("line\nbreak", True, Code.INVALID_CHARACTER),
        ("tab\there", True, Code.INVALID_CHARACTER),
        ("nul\x00", False, Code.INVALID_CHARACTER),
        ("four    spaces", True, None),
        ("five     spaces", True, Code.INVALID_CHARACTER),
        ("five     spaces", False, None),
    ],
)
def test_check_values(value: object, whatsapp: bool, code: Code | None) -> None:
    context = {"body": "Hi {{name}} there"}
    expected = [] if code is None else [(("name",), code)]
    assert found(check_values(T.TEXT, context, {"name": value}, whatsapp=whatsapp)) == expected


def test_check_values_without_the_key() -> None:
    problems = check_values(T.CARD, OK[T.CARD], {"lead_name": "Ana"}, whatsapp=True)
    assert found(problems) == [(("path",), Code.MISSING_VALUE)]


# -- previews, the Content API ------------------------------------------------------------


def test_render_fills_values_once_and_keeps_what_is_missing() -> None:
    context = copy.deepcopy(OK[T.CARD])
    rendered = render(T.CARD, context, {"lead_name": "{{path}}", "path": "", "unused": "x"})
    assert rendered.body_preview == "Hi {{path}}, new arrivals\nReply STOP to opt out"
    assert rendered.missing == ("path",)
    assert rendered.context["actions"] == OK[T.CARD]["actions"]
    assert context == OK[T.CARD]  # the input is not changed


@pytest.mark.parametrize(
    ("kind", "values", "preview", "context_part"),
    [
        (T.TEXT, {"lead_name": "Ana"}, "Hello Ana, welcome.", None),
        (T.QUICK_REPLY, {"lead_name": "Ana"}, "Coming on Friday, Ana?", None),
        (
            T.CALL_TO_ACTION,
            {"order_id": "A7"},
            "Order A7 has shipped.",
            ("actions", 0, "url", "https://shop.example.com/track/A7"),
        ),
        (
            T.MEDIA,
            {"ticket": "t9"},
            "Your ticket, {{lead_name}}.",
            ("media", 0, None, "https://cdn.example.com/t/t9.pdf"),
        ),
        (
            T.CARD,
            {"lead_name": "Ana", "path": "new"},
            "Hi Ana, new arrivals\nReply STOP to opt out",
            ("actions", 0, "url", "https://shop.example.com/new"),
        ),
    ],
)
def test_render_every_type(
    kind: ContentType,
    values: dict[str, object],
    preview: str,
    context_part: tuple[str, int, str | None, str] | None,
) -> None:
    rendered = render(kind, OK[kind], values)
    assert rendered.content_type is kind
    assert rendered.body_preview == preview
    if context_part is not None:
        key, index, name, expected = context_part
        item = rendered.context[key][index]  # type: ignore[index]
        assert (item if name is None else item[name]) == expected


def test_render_refuses_invalid_content() -> None:
    context = {"body": "a" * 1601}
    with pytest.raises(ContentError) as raised:
        render(T.TEXT, context, {})
    assert found(raised.value.problems) == [(("body",), Code.TOO_LONG)]
    assert context == {"body": "a" * 1601}


@pytest.mark.parametrize("kind", list(T))
def test_to_and_from_twilio_types_round_trip(kind: ContentType) -> None:
    types = to_twilio_types(kind, OK[kind])
    assert types == {TWILIO_TYPES[kind]: OK[kind]}
    assert types[TWILIO_TYPES[kind]] is not OK[kind]
    assert from_twilio_types(types) == (kind, OK[kind])


def test_a_voice_call_ttl_goes_to_twilio_as_given() -> None:
    # Twilio's OpenAPI copy lists no ttl_minutes on call-to-action buttons; Twilio's pages
    # do, with 1..43,200 and a default of 10,080: it is sent as the user set it.
    context = edit(T.CALL_TO_ACTION, put(("actions", 1), VOICE))
    types = to_twilio_types(T.CALL_TO_ACTION, context)
    sent = types["twilio/call-to-action"]
    assert isinstance(sent, dict)
    assert sent["actions"][1] == {
        "type": "VOICE_CALL",
        "title": "Call on WhatsApp",
        "ttl_minutes": 10_080,
    }
    assert from_twilio_types(types) == (T.CALL_TO_ACTION, context)


def test_the_twilio_type_keys() -> None:
    assert TWILIO_TYPES == {
        T.TEXT: "twilio/text",
        T.MEDIA: "twilio/media",
        T.CARD: "twilio/card",
        T.CALL_TO_ACTION: "twilio/call-to-action",
        T.QUICK_REPLY: "twilio/quick-reply",
    }
    assert [k.value for k in T] == ["text", "media", "card", "call_to_action", "quick_reply"]


def test_from_twilio_types_reads_the_richest_type_and_drops_nulls() -> None:
    fetched = {
        "twilio/text": {"body": "Fallback {{1}} text"},
        "twilio/quick-reply": {"body": "Pick, {{1}}:", "actions": [{"title": "A", "id": None}]},
        "twilio/location": {"latitude": 1, "longitude": 2},
        "twilio/card": None,
    }
    kind, context = from_twilio_types(fetched)
    assert (kind, context) == (T.QUICK_REPLY, {"body": "Pick, {{1}}:", "actions": [{"title": "A"}]})
    assert checked(kind, context) == []


@pytest.mark.parametrize(
    ("types", "code"),
    [
        ({"twilio/location": {"latitude": 1}}, Code.NOT_ALLOWED),
        ({}, Code.NOT_ALLOWED),
        ([], Code.INVALID_TYPE),
        ({"twilio/text": "Hello"}, Code.INVALID_TYPE),
        ({"twilio/text": {"body": [[[["deep"]]]]}}, Code.TOO_LARGE),
    ],
)
def test_from_twilio_types_refuses(types: object, code: Code) -> None:
    with pytest.raises(ContentError) as raised:
        from_twilio_types(types)
    assert found(raised.value.problems) == [((), code)]


def test_a_fetched_template_is_checked_with_the_same_rules() -> None:
    kind, context = from_twilio_types(
        {"twilio/call-to-action": {"body": "b", "actions": [url(0), url(1), url(2)]}}
    )
    assert checked(kind, context) == [(("actions", "2"), Code.TOO_MANY)]


def test_to_twilio_types_refuses_invalid_content() -> None:
    with pytest.raises(ContentError) as raised:
        to_twilio_types(T.QUICK_REPLY, {"body": "b", "actions": []})
    assert found(raised.value.problems) == [(("actions",), Code.TOO_FEW)]


def test_twilio_variables_samples() -> None:
    samples: dict[str, object] = {"order_id": "A-17", "unused": "x"}
    assert twilio_variables(T.CALL_TO_ACTION, OK[T.CALL_TO_ACTION], samples) == {"order_id": "A-17"}
    card_samples: dict[str, object] = {"lead_name": "two\nlines", "path": ""}
    assert twilio_variables(T.CARD, OK[T.CARD], card_samples) == {
        "lead_name": "lead_name",
        "path": "path",
    }
    assert twilio_variables(T.TEXT, {"body": "plain"}) == {}


# -- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "path", "value", "code"),
    [
        (T.QUICK_REPLY, ("actions", 0, "title"), "Ye\x00s", Code.INVALID_CHARACTER),
        (T.QUICK_REPLY, ("actions", 0, "title"), "Ye\ns", Code.INVALID_CHARACTER),
        (T.QUICK_REPLY, ("actions", 0, "id"), "yes\r", Code.INVALID_CHARACTER),
        (T.QUICK_REPLY, ("actions", 0, "id"), "yes\u0085", Code.INVALID_CHARACTER),
        (T.CARD, ("subtitle",), "sub\ntitle", Code.INVALID_CHARACTER),
        (T.CALL_TO_ACTION, ("actions", 2, "code"), "SAVE\t1", Code.INVALID_CHARACTER),
        (T.TEXT, ("body",), "bell\x07", Code.INVALID_CHARACTER),
        (T.TEXT, ("body",), "esc\x1b[31m", Code.INVALID_CHARACTER),
        (T.TEXT, ("body",), "lone \ud800 surrogate", Code.INVALID_CHARACTER),
        (T.TEXT, ("body",), "del\x7f", Code.INVALID_CHARACTER),
    ],
)
def test_control_characters_are_refused(
    kind: ContentType, path: tuple[str | int, ...], value: str, code: Code
) -> None:
    field = tuple(str(step) for step in path)
    assert checked(kind, edit(kind, put(path, value))) == [(field, code)]


@pytest.mark.parametrize("body", ["two\nlines", "crlf\r\nline", "a\ttab"])
def test_bodies_may_hold_newlines_and_tabs(body: str) -> None:
    assert checked(T.TEXT, {"body": body}) == []


def test_deep_nesting_is_refused_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    context = {"body": "b", "actions": deep}
    problems = validate(T.QUICK_REPLY, context, whatsapp=True)
    assert found(problems) == [((), Code.TOO_LARGE)]
    assert context_variables(T.QUICK_REPLY, context) == []
    assert context == {"body": "b", "actions": deep}
    assert len(deep) == 1


class Unlooked(list[object]):
    """A list that fails the test if anything walks its items."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a list over its limit was iterated")

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        raise AssertionError("a list over its limit was indexed")


@pytest.mark.parametrize(
    ("kind", "key", "size"),
    [
        (T.QUICK_REPLY, "actions", 11),
        (T.CALL_TO_ACTION, "actions", 5),
        (T.CARD, "actions", 11),
        (T.MEDIA, "media", 11),
    ],
)
def test_a_list_over_its_limit_is_refused_before_its_items_are_checked(
    kind: ContentType, key: str, size: int
) -> None:
    # Every item is garbage: had any been checked, it would have its own problem.
    context = {**OK[kind], key: [None] * size}
    assert checked(kind, context) == [((key,), Code.TOO_MANY)]


@pytest.mark.parametrize(
    ("kind", "key", "size"),
    [
        (T.QUICK_REPLY, "actions", 501),
        (T.CARD, "actions", 1_000_000),
        (T.MEDIA, "media", 10_000_000),
    ],
)
def test_a_huge_list_is_refused_without_being_walked(
    kind: ContentType, key: str, size: int
) -> None:
    context = {**OK[kind], key: Unlooked([None] * size)}
    assert found(validate(kind, context, whatsapp=True)) == [((), Code.TOO_LARGE)]
    assert context_variables(kind, context) == context_variables(kind, {**OK[kind], key: []})
    with pytest.raises(ContentError):
        from_twilio_types({TWILIO_TYPES[kind]: context})


def test_a_megabyte_string_costs_one_length_check() -> None:
    hostile = "{{" * 500_000
    started = time.perf_counter()
    problems = validate(T.TEXT, {"body": hostile}, whatsapp=True)
    unknown = validate(T.TEXT, {"body": "b", "k" * 1_000_000: 1}, whatsapp=True)
    print(f"validate with 1 MB strings: {time.perf_counter() - started:.4f}s")
    assert found(problems) == [(("body",), Code.TOO_LONG)]
    assert found(unknown) == [(("k" * 64 + "…",), Code.UNKNOWN_FIELD)]
    assert context_variables(T.TEXT, {"body": hostile}) == []


@pytest.mark.parametrize(
    ("text", "count", "valid"),
    [
        ("{{" * 500_000, 1, 0),  # one unclosed placeholder ends the scan
        ("{{a}}" * 200_000, 200_000, 200_000),
        ("{{" + "a" * 1_000_000, 1, 0),
        ("}}" * 500_000, 0, 0),
        ("{" * 1_000_000, 1, 0),
        (("{{" + "x" * 20 + "}}") * 40_000, 40_000, 0),
    ],
)
def test_the_placeholder_scan_is_linear_on_adversarial_megabytes(
    text: str, count: int, valid: int
) -> None:
    started = time.perf_counter()
    found_all = list(variables.placeholders(text))
    filled = variables.substitute(text, {"a": "b"})
    print(f"scan + substitute of {len(text)} characters: {time.perf_counter() - started:.3f}s")
    assert len(found_all) == count
    assert sum(p.key is not None for p in found_all) == valid
    assert filled == (text.replace("{{a}}", "b") if valid else text)


def test_load_context_caps_size_and_depth() -> None:
    assert load_context('{"body": "x"}') == {"body": "x"}
    with pytest.raises(ContentError) as too_long:
        load_context(" " * (MAX_JSON_CHARS + 1))
    assert found(too_long.value.problems) == [((), Code.TOO_LARGE)]
    assert load_context(" " * (MAX_JSON_CHARS - 2) + "{}") == {}
    with pytest.raises(ContentError) as too_deep:
        load_context("[" * 30_000 + "]" * 30_000)
    assert found(too_deep.value.problems) == [((), Code.TOO_LARGE)]
    with pytest.raises(ContentError) as not_json:
        load_context("{'body': 1}")
    assert found(not_json.value.problems) == [((), Code.INVALID_TYPE)]
