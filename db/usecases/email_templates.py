"""Email templates: Jinja2 subject and bodies, checked to compile when saved."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.errors import DomainError, ErrorCode
from db.models import Campaign, EmailTemplate
from db.queries import code_taken, get_owned, refuse_if_campaigns_use


def check_template(fields: Mapping[str, Any], problems: v.Problems) -> None:
    if "name" in fields:
        problems.add(v.text(fields["name"], 255, "name", needed=True))
    if "code" in fields:
        problems.add(v.text(fields["code"], 100, "code", needed=True))
    if "subject" in fields:
        problems.add(
            v.text(fields["subject"], 255, "subject", needed=True)
            or v.jinja_template(fields["subject"], "subject")
        )
    if "body_html" in fields:
        problems.add(
            v.required(fields["body_html"], "body_html")
            or v.jinja_template(fields["body_html"], "body_html")
        )
    if "body_text" in fields:
        problems.add(v.jinja_template(fields["body_text"], "body_text"))
    if "tags" in fields:
        problems.add(v.tags(fields["tags"], "tags"))


async def create_email_template(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any]
) -> EmailTemplate:
    problems = v.Problems()
    check_template(fields, problems)
    problems.raise_if_any()
    if await code_taken(session, EmailTemplate, account_id, fields["code"]):
        raise DomainError.one(ErrorCode.DUPLICATE, "A template with this code exists.", "code")
    template = EmailTemplate(account_id=account_id, **fields)
    session.add(template)
    await session.flush()
    return template


async def update_email_template(
    session: AsyncSession, account_id: int, template_id: int, changes: Mapping[str, Any]
) -> EmailTemplate:
    problems = v.Problems()
    check_template(changes, problems)
    problems.raise_if_any()
    template = await get_owned(session, EmailTemplate, account_id, template_id, "id")
    code = changes.get("code", template.code)
    if code != template.code and await code_taken(session, EmailTemplate, account_id, code):
        raise DomainError.one(ErrorCode.DUPLICATE, "A template with this code exists.", "code")
    for name, value in changes.items():
        setattr(template, name, value)
    await session.flush()
    return template


async def delete_email_template(session: AsyncSession, account_id: int, template_id: int) -> None:
    template = await get_owned(session, EmailTemplate, account_id, template_id, "id")
    await refuse_if_campaigns_use(session, Campaign.email_template_id, template.id, "template")
    await session.delete(template)
    await session.flush()
