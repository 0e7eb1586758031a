"""A contact's fields as a client gives them, checked and put in stored form.

Rules: an email is stored lowercased, a phone and a WhatsApp number in E.164 (read with
the contact's country as the region of a national number such as "(415) 555-0123"). An
empty email or phone means "none" (NULL). A contact needs an email or a phone.
"""

from collections.abc import Mapping
from typing import Any

from db import phones
from db import validation as v
from db.errors import ErrorCode, Problem

_LIMITS = {"first_name": 100, "last_name": 100}
NEEDS_A_KEY = "A contact needs an email or a phone number."


def prepare(
    fields: Mapping[str, Any], problems: v.Problems, *prefix: str, country: str = ""
) -> dict[str, Any]:
    """The fields present, in stored form; every problem is added under `prefix` (which
    locates the row in the input). `country` is the stored one, if any: the fields' own
    country wins."""

    def at(problem: Problem | None) -> None:
        if problem is not None:
            problems.add(Problem(problem.code, problem.message, (*prefix, *problem.field)))

    out = dict(fields)
    if "email" in out:
        out["email"] = out["email"].strip().lower() or None
        if out["email"] is not None:
            at(v.email(out["email"], "email"))
    for name, limit in _LIMITS.items():
        if name in out:
            at(v.text(out[name], limit, name))
    country = out.get("country", country)
    region = country if country and v.country(country, "country") is None else None
    for name in ("phone", "whatsapp"):
        if name in out:
            number, problem = _number(out[name], name, region)
            at(problem)
            out[name] = number if name == "phone" else (number or "")
    if "country" in out:
        at(v.country(out["country"], "country"))
    if "tags" in out:
        at(v.tags(out["tags"], "tags"))
        out["tags"] = v.normalize_tags(out["tags"])
    return out


def _number(raw: str, field: str, region: str | None) -> tuple[str | None, Problem | None]:
    if not raw:
        return None, None
    try:
        return phones.normalise(raw, region), None
    except phones.PhoneNumberError as exc:
        code = (
            ErrorCode.TOO_LONG
            if exc.problem is phones.PhoneProblem.INPUT_TOO_LONG
            else ErrorCode.INVALID
        )
        return None, Problem(code, f"{field} {exc}", (field,))


def reachable(email: str | None, phone: str | None, problems: v.Problems, *prefix: str) -> None:
    """REQUIRED (on email) when the contact would have neither an email nor a phone, unless
    one of them was given and refused already (that problem says enough)."""
    if email is not None or phone is not None:
        return
    refused = {
        p.field[len(prefix)]
        for p in problems.items
        if p.field[: len(prefix)] == prefix and len(p.field) > len(prefix)
    }
    if not refused & {"email", "phone"}:
        problems.add(Problem(ErrorCode.REQUIRED, NEEDS_A_KEY, (*prefix, "email")))
