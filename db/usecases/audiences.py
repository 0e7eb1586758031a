"""Audiences: segments of contacts by tag."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.errors import DomainError, ErrorCode
from db.models import Audience, Campaign
from db.queries import code_taken, free_code, get_owned, refuse_if_campaigns_use


def check_audience(fields: Mapping[str, Any], problems: v.Problems) -> None:
    if "name" in fields:
        problems.add(v.text(fields["name"], 255, "name", needed=True))
    if "description" in fields:
        problems.add(v.free_text(fields["description"], v.MAX_DESCRIPTION_LENGTH, "description"))
    if "tags" in fields:
        problems.add(v.tags(fields["tags"], "tags", needed=True))
    if fields.get("code"):
        problems.add(v.slug(fields["code"], 100, "code"))


async def create_audience(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any]
) -> Audience:
    fields = dict(fields)
    problems = v.Problems()
    check_audience(fields, problems)
    problems.raise_if_any()
    fields["tags"] = v.normalize_tags(fields["tags"])
    if fields.get("code"):
        if await code_taken(session, Audience, account_id, fields["code"]):
            raise DomainError.one(ErrorCode.DUPLICATE, "An audience with this code exists.", "code")
    else:
        fields["code"] = await free_code(session, Audience, account_id, fields["name"])
    audience = Audience(account_id=account_id, **fields)
    session.add(audience)
    await session.flush()
    return audience


async def update_audience(
    session: AsyncSession, account_id: int, audience_id: int, changes: Mapping[str, Any]
) -> Audience:
    changes = dict(changes)
    problems = v.Problems()
    if "code" in changes and not changes["code"]:
        problems.add(v.required("", "code"))
    check_audience(changes, problems)
    problems.raise_if_any()
    audience = await get_owned(session, Audience, account_id, audience_id, "id")
    code = changes.get("code", audience.code)
    if code != audience.code and await code_taken(session, Audience, account_id, code):
        raise DomainError.one(ErrorCode.DUPLICATE, "An audience with this code exists.", "code")
    if "tags" in changes:
        changes["tags"] = v.normalize_tags(changes["tags"])
    for name, value in changes.items():
        setattr(audience, name, value)
    await session.flush()
    return audience


async def delete_audience(session: AsyncSession, account_id: int, audience_id: int) -> None:
    audience = await get_owned(session, Audience, account_id, audience_id, "id")
    await refuse_if_campaigns_use(session, Campaign.audience_id, audience.id, "audience")
    await session.delete(audience)
    await session.flush()
