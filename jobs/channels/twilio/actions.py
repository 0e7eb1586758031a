"""Checks of a content's `actions` list: counts, kinds and each button's fields."""

from collections import Counter
from dataclasses import dataclass

from jobs.channels.twilio import fields
from jobs.channels.twilio.fields import Path, Vars
from jobs.channels.twilio.problems import Code, Problem

QUICK_REPLY, URL, PHONE_NUMBER = "QUICK_REPLY", "URL", "PHONE_NUMBER"
COPY_CODE, VOICE_CALL = "COPY_CODE", "VOICE_CALL"
KINDS = (QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, VOICE_CALL)

TITLE_MAX = 20  # a button's text (the reference; Twilio's CTA page allows 25 for URL/phone)
QUICK_REPLY_ID_MAX = 200  # the id comes back as ButtonPayload
COPY_CODE_MAX = 15  # Meta's limit for a coupon code
TTL_MINUTES = (1, 43_200)  # VOICE_CALL button lifetime; Twilio's default is 10,080 (7 days)
URL_BUTTONS_MAX = 2
CALL_BUTTONS_MAX = 1  # PHONE_NUMBER and VOICE_CALL together
COPY_CODE_BUTTONS_MAX = 1
WEBVIEW_SIZES = ("TALL", "FULL", "HALF", "NONE")

_KEYS = {
    QUICK_REPLY: ("type", "title", "id"),
    URL: ("type", "title", "url"),
    PHONE_NUMBER: ("type", "title", "phone"),
    COPY_CODE: ("type", "title", "code"),
    VOICE_CALL: ("type", "title", "ttl_minutes"),
}
# Keys of each kind that may hold text, in the order variables are read from them.
TEXT_KEYS = ("title", "id", "url", "phone", "code")


@dataclass(frozen=True)
class Rules:
    kinds: tuple[str, ...]
    least: int
    most: int
    default_kind: str | None = None  # a quick reply may leave out its "type"
    webview: bool = False  # a card's URL button may say its webview_size


def check(out: list[Problem], path: Path, value: object, rules: Rules) -> None:
    if value is None:
        if rules.least:
            out.append(Problem(path, "required: a list of buttons", Code.REQUIRED))
        return
    if not isinstance(value, list):
        out.append(Problem(path, "must be a list of buttons", Code.INVALID_TYPE))
        return
    if len(value) > rules.most:
        out.append(Problem(path, f"at most {rules.most} buttons", Code.TOO_MANY))
        return
    if len(value) < rules.least:
        out.append(Problem(path, f"at least {rules.least} button(s)", Code.TOO_FEW))
        return
    caps = {URL: URL_BUTTONS_MAX, "CALL": CALL_BUTTONS_MAX, COPY_CODE: COPY_CODE_BUTTONS_MAX}
    counts: Counter[str] = Counter()
    titles: set[str] = set()
    ids: set[str] = set()
    for index, action in enumerate(value):
        at = (*path, str(index))
        kind = _kind(out, at, action, rules)
        if kind is None or not isinstance(action, dict):
            continue
        group = "CALL" if kind in (PHONE_NUMBER, VOICE_CALL) else kind
        counts[group] += 1
        if counts[group] > caps.get(group, rules.most):
            out.append(Problem(at, _too_many(group), Code.TOO_MANY))
        keys = _KEYS[kind] + (("webview_size",) if rules.webview and kind == URL else ())
        for key in action:
            if key not in keys:
                shown = fields.shown_key(str(key))
                out.append(Problem((*at, shown), f"{kind} has no {shown!r}", Code.UNKNOWN_FIELD))
        title = action.get("title")
        before = len(out)
        fields.text(out, (*at, "title"), title, limit=TITLE_MAX, required=True)
        if len(out) == before and isinstance(title, str):
            _unique(out, (*at, "title"), title.strip().casefold(), titles, "title")
        _kind_fields(out, at, kind, action, ids)


def _kind(out: list[Problem], at: Path, action: object, rules: Rules) -> str | None:
    if not isinstance(action, dict):
        out.append(Problem(at, "must be an object", Code.INVALID_TYPE))
        return None
    kind = action.get("type")
    kind = rules.default_kind if kind is None else kind
    if kind is None:
        out.append(Problem((*at, "type"), "required", Code.REQUIRED))
        return None
    if not isinstance(kind, str):
        out.append(Problem((*at, "type"), "must be a string", Code.INVALID_TYPE))
        return None
    if kind not in KINDS:
        shown = fields.shown_key(kind)
        out.append(Problem((*at, "type"), f"unknown button type {shown!r}", Code.INVALID))
        return None
    if kind not in rules.kinds:
        allowed = ", ".join(rules.kinds)
        out.append(
            Problem((*at, "type"), f"{kind} is not allowed here ({allowed})", Code.NOT_ALLOWED)
        )
        return None
    return kind


def _kind_fields(
    out: list[Problem], at: Path, kind: str, action: dict[str, object], ids: set[str]
) -> None:
    if kind == QUICK_REPLY:
        before = len(out)
        reply_id = action.get("id")
        fields.text(out, (*at, "id"), reply_id, limit=QUICK_REPLY_ID_MAX, required=False)
        if len(out) == before and isinstance(reply_id, str):
            _unique(out, (*at, "id"), reply_id, ids, "id")
    elif kind == URL:
        fields.url(out, (*at, "url"), action.get("url"), Vars.AT_END)
        size = action.get("webview_size")
        if size is not None and size not in WEBVIEW_SIZES:
            out.append(
                Problem((*at, "webview_size"), f"one of {', '.join(WEBVIEW_SIZES)}", Code.INVALID)
            )
    elif kind == PHONE_NUMBER:
        fields.phone(out, (*at, "phone"), action.get("phone"))
    elif kind == COPY_CODE:
        fields.text(out, (*at, "code"), action.get("code"), limit=COPY_CODE_MAX, required=True)
    elif kind == VOICE_CALL:
        ttl = action.get("ttl_minutes")
        low, high = TTL_MINUTES
        if ttl is None:
            return
        if not isinstance(ttl, int) or isinstance(ttl, bool):
            out.append(Problem((*at, "ttl_minutes"), "must be a whole number", Code.INVALID_TYPE))
        elif not low <= ttl <= high:
            out.append(
                Problem((*at, "ttl_minutes"), f"from {low} to {high} minutes", Code.OUT_OF_RANGE)
            )


def _unique(out: list[Problem], at: Path, key: str, seen: set[str], what: str) -> None:
    if key in seen:
        out.append(Problem(at, f"another button has the same {what}", Code.DUPLICATE))
    seen.add(key)


def _too_many(group: str) -> str:
    if group == "CALL":
        return f"at most {CALL_BUTTONS_MAX} PHONE_NUMBER or VOICE_CALL button"
    if group == URL:
        return f"at most {URL_BUTTONS_MAX} URL buttons"
    if group == COPY_CODE:
        return f"at most {COPY_CODE_BUTTONS_MAX} COPY_CODE button"
    return "too many buttons of this type"
