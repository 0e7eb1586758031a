"""Twilio content: the five types a campaign may carry, their rules, variables, previews.

Pure: no I/O. `validate` returns every problem with its JSON path into contentContext;
the other functions read a context that `validate` accepted (the ones that build from
it raise `ContentError` otherwise). A context is Twilio's own shape for the type (the
value under `types["twilio/…"]` in the Content API), so mapping to and from Twilio is a
copy. Limits and the choices made where the spec and Twilio differ are beside each rule.
"""

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from db.enums import ContentType as ContentType  # re-exported: the domain's enum
from jobs.channels.twilio import actions, fields, variables
from jobs.channels.twilio.problems import Code, ContentError, Problem
from jobs.channels.twilio.size import MAX_JSON_CHARS as MAX_JSON_CHARS  # re-exported
from jobs.channels.twilio.size import load_context as load_context  # re-exported
from jobs.channels.twilio.size import size_problem

TEXT_BODY_MAX = 1_600
MEDIA_BODY_MAX = 1_600
QUICK_REPLY_BODY_MAX = 1_024
CALL_TO_ACTION_BODY_MAX = 640
CARD_TITLE_MAX = 1_024  # WhatsApp's limit for a card's title (its main text)
CARD_SUBTITLE_MAX = 60
MEDIA_MAX_WHATSAPP = 1  # WhatsApp carries one media item a message
MEDIA_MAX_MMS = 10  # MMS carries up to ten
CARD_MEDIA_MAX = 1
# The spec says 1-5 quick replies; Twilio and Meta now take up to 10 in an approved
# template, and Twilio's API is what refuses or accepts: we follow Twilio.
QUICK_REPLIES_MAX = 10
CARD_BUTTONS_MAX = 10


TWILIO_TYPES: dict[ContentType, str] = {
    ContentType.TEXT: "twilio/text",
    ContentType.MEDIA: "twilio/media",
    ContentType.CARD: "twilio/card",
    ContentType.CALL_TO_ACTION: "twilio/call-to-action",
    ContentType.QUICK_REPLY: "twilio/quick-reply",
}
# A fetched Content resource may carry several types (a rich one and twilio/text as the
# fallback for channels without it): the richest we support is the one read.
_RICHEST_FIRST = (
    ContentType.CARD,
    ContentType.CALL_TO_ACTION,
    ContentType.QUICK_REPLY,
    ContentType.MEDIA,
    ContentType.TEXT,
)
_FIELDS: dict[ContentType, tuple[str, ...]] = {
    ContentType.TEXT: ("body",),
    ContentType.MEDIA: ("body", "media"),
    ContentType.CARD: ("title", "subtitle", "media", "actions"),
    ContentType.CALL_TO_ACTION: ("body", "actions"),
    ContentType.QUICK_REPLY: ("body", "actions"),
}
# The spec's get_variable_supported_fields: top-level fields that may hold variables.
# Inside "actions" only a URL button's url may (one variable, at its end); titles, ids,
# phones and codes never do, nor does a card's subtitle.
_VARIABLE_FIELDS: dict[ContentType, tuple[str, ...]] = {
    ContentType.TEXT: ("body",),
    ContentType.MEDIA: ("body", "media"),
    ContentType.CARD: ("title", "media", "actions"),
    ContentType.CALL_TO_ACTION: ("body", "actions"),
    ContentType.QUICK_REPLY: ("body",),
}
_ACTION_RULES = {
    ContentType.QUICK_REPLY: actions.Rules(
        (actions.QUICK_REPLY,), 1, QUICK_REPLIES_MAX, default_kind=actions.QUICK_REPLY
    ),
    ContentType.CALL_TO_ACTION: actions.Rules(
        (actions.URL, actions.PHONE_NUMBER, actions.COPY_CODE, actions.VOICE_CALL),
        1,
        actions.URL_BUTTONS_MAX + actions.CALL_BUTTONS_MAX + actions.COPY_CODE_BUTTONS_MAX,
    ),
    ContentType.CARD: actions.Rules(actions.KINDS, 0, CARD_BUTTONS_MAX, webview=True),
}
_BODY_MAX = {
    ContentType.TEXT: TEXT_BODY_MAX,
    ContentType.MEDIA: MEDIA_BODY_MAX,
    ContentType.QUICK_REPLY: QUICK_REPLY_BODY_MAX,
    ContentType.CALL_TO_ACTION: CALL_TO_ACTION_BODY_MAX,
}


@dataclass(frozen=True)
class RenderedContent:
    content_type: ContentType
    context: dict[str, object]  # the context with every value that was given filled in
    body_preview: str  # what is read first: the body, or a card's title (and subtitle)
    missing: tuple[str, ...]  # variables left as {{name}} for want of a non-empty value


def variables_supported(content_type: ContentType) -> tuple[str, ...]:
    return _VARIABLE_FIELDS[ContentType(content_type)]


def validate(content_type: ContentType, context: object, *, whatsapp: bool) -> list[Problem]:
    """Every problem with `context` as content of `content_type`; [] when Twilio takes it.

    `whatsapp` adds Meta's approval rules: no variable first or last in a body or next to
    another, and a single media item.
    """
    kind = ContentType(content_type)
    if not isinstance(context, dict):
        return [Problem((), "the content must be a JSON object", Code.INVALID_TYPE)]
    if size := size_problem(context):
        return [size]
    out: list[Problem] = []
    known = _FIELDS[kind]
    for key in context:
        if key not in known:
            shown = fields.shown_key(str(key))
            out.append(
                Problem((shown,), f"{TWILIO_TYPES[kind]} has no {shown!r}", Code.UNKNOWN_FIELD)
            )
    allowed = _VARIABLE_FIELDS[kind]
    main = "title" if kind is ContentType.CARD else "body"
    fields.text(
        out,
        (main,),
        context.get(main),
        limit=CARD_TITLE_MAX if kind is ContentType.CARD else _BODY_MAX[kind],
        required=kind is not ContentType.MEDIA,
        multiline=True,
        allow_variables=main in allowed,
        whatsapp_body=whatsapp,
    )
    if kind is ContentType.CARD:
        fields.text(
            out, ("subtitle",), context.get("subtitle"), limit=CARD_SUBTITLE_MAX, required=False
        )
    if kind in (ContentType.MEDIA, ContentType.CARD):
        most = (
            CARD_MEDIA_MAX
            if kind is ContentType.CARD
            else MEDIA_MAX_WHATSAPP
            if whatsapp
            else MEDIA_MAX_MMS
        )
        fields.media(
            out,
            ("media",),
            context.get("media"),
            required=kind is ContentType.MEDIA,
            most=most,
            allow_variables="media" in allowed,
        )
    if kind in _ACTION_RULES:
        actions.check(out, ("actions",), context.get("actions"), _ACTION_RULES[kind])
    if kind is ContentType.CARD and not any(
        context.get(key) for key in ("subtitle", "media", "actions")
    ):
        out.append(
            Problem((), "a card needs a subtitle, media or buttons beside its title", Code.TOO_FEW)
        )
    if len(used := context_variables(kind, context)) > variables.MAX_VARIABLES:
        out.append(
            Problem((), f"{len(used)} variables; at most {variables.MAX_VARIABLES}", Code.TOO_MANY)
        )
    return out


def context_variables(content_type: ContentType, context: object) -> list[str]:
    """The variables `context` uses, each once, in the order they first appear."""
    seen: dict[str, None] = {}
    for _, text in _strings(ContentType(content_type), context):
        for found in variables.placeholders(text):
            if found.key is not None:
                seen.setdefault(found.key)
    return list(seen)


def missing(content_type: ContentType, context: object, values: Mapping[str, object]) -> list[str]:
    """Variables of `context` with no value in `values`, or only an empty one: Twilio
    refuses an empty value (error 21656), so such a recipient is never sent one."""
    out = []
    for name in context_variables(content_type, context):
        value = values.get(name)
        if not isinstance(value, str) or not value.strip():
            out.append(name)
    return out


def check_values(
    content_type: ContentType, context: object, values: Mapping[str, object], *, whatsapp: bool
) -> list[Problem]:
    """Problems with the values a recipient would be sent, one per variable, path (name,)."""
    out: list[Problem] = []
    for name in context_variables(content_type, context):
        if name not in values or values[name] is None:
            out.append(Problem((name,), "no value for this variable", Code.MISSING_VALUE))
        elif found := variables.value_problem(values[name], whatsapp=whatsapp):
            out.append(Problem((name,), found[1], found[0]))
    return out


def render(
    content_type: ContentType, context: object, values: Mapping[str, object]
) -> RenderedContent:
    """A preview: `context` with the values filled in (a value over 1,600 characters, not a
    string, or empty counts as missing and its `{{name}}` stays)."""
    kind = ContentType(content_type)
    checked = _checked(kind, context)
    usable = {
        name: value
        for name, value in values.items()
        if isinstance(value, str) and value.strip() and len(value) <= variables.VALUE_MAX
    }
    filled = _map_strings(kind, checked, lambda text: variables.substitute(text, usable))
    if kind is ContentType.CARD:
        lines = [filled.get("title"), filled.get("subtitle")]
    else:
        lines = [filled.get("body")]
    preview = "\n".join(line for line in lines if isinstance(line, str))
    gone = tuple(name for name in context_variables(kind, checked) if name not in usable)
    return RenderedContent(kind, filled, preview, gone)


def twilio_variables(
    content_type: ContentType, context: object, samples: Mapping[str, object] | None = None
) -> dict[str, str]:
    """The Content API's `variables` (a sample per variable, which WhatsApp approval
    requires): the sample given when it is a non-empty string, else the variable's name."""
    given = samples or {}
    out: dict[str, str] = {}
    for name in context_variables(content_type, context):
        sample = given.get(name)
        ok = isinstance(sample, str) and variables.value_problem(sample, whatsapp=True) is None
        out[name] = sample if ok and isinstance(sample, str) else name
    return out


def to_twilio_types(content_type: ContentType, context: object) -> dict[str, object]:
    """The Content API's `types` for creating the resource: {"twilio/…": context}."""
    kind = ContentType(content_type)
    return {TWILIO_TYPES[kind]: copy.deepcopy(_checked(kind, context))}


def from_twilio_types(types: object) -> tuple[ContentType, dict[str, object]]:
    """The type and context of a fetched Content resource's `types`, for `validate`.

    Null members are dropped (they mean "not set"); the richest supported type wins.
    """
    if not isinstance(types, dict):
        raise ContentError([Problem((), "types must be a JSON object", Code.INVALID_TYPE)])
    for kind in _RICHEST_FIRST:
        name = TWILIO_TYPES[kind]
        body = types.get(name)
        if body is None:  # absent, or null: not this type
            continue
        if not isinstance(body, dict):
            raise ContentError([Problem((), f"{name} must be a JSON object", Code.INVALID_TYPE)])
        if size := size_problem(body):
            raise ContentError([size])
        context = {key: value for key, value in body.items() if value is not None}
        if isinstance(buttons := context.get("actions"), list):
            context["actions"] = [
                {k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item
                for item in buttons
            ]
        return kind, copy.deepcopy(context)
    names = ", ".join(fields.shown_key(str(key)) for key in list(types)[:8])
    raise ContentError(
        [Problem((), f"no supported content type among: {names or 'none'}", Code.NOT_ALLOWED)]
    )


def _checked(kind: ContentType, context: object) -> dict[str, object]:
    if problems := validate(kind, context, whatsapp=False):
        raise ContentError(problems)
    assert isinstance(context, dict)
    return context


def _strings(kind: ContentType, context: object) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, text) of every string in the known places of `context`, bounded: lists past
    their limit and strings past the longest limit are skipped, never scanned."""
    if not isinstance(context, dict):
        return
    longest = max(fields.URL_MAX, TEXT_BODY_MAX)
    for key in _FIELDS[kind]:
        value = context.get(key)
        if isinstance(value, str) and len(value) <= longest:
            yield (key,), value
        elif key == "media" and isinstance(value, list) and len(value) <= MEDIA_MAX_MMS:
            for index, item in enumerate(value):
                if isinstance(item, str) and len(item) <= longest:
                    yield (key, str(index)), item
        elif key == "actions" and isinstance(value, list) and len(value) <= CARD_BUTTONS_MAX:
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                for name in actions.TEXT_KEYS:
                    text = item.get(name)
                    if isinstance(text, str) and len(text) <= longest:
                        yield (key, str(index), name), text


def _map_strings(
    kind: ContentType, context: dict[str, object], change: Callable[[str], str]
) -> dict[str, object]:
    out = copy.deepcopy(context)
    for path, text in list(_strings(kind, out)):
        key, *rest = path
        if not rest:
            out[key] = change(text)
            continue
        items = out[key]
        assert isinstance(items, list)
        if len(rest) == 1:
            items[int(rest[0])] = change(text)
        else:
            item = items[int(rest[0])]
            assert isinstance(item, dict)
            item[rest[1]] = change(text)
    return out
