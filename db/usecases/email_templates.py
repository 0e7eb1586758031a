"""Email templates: Jinja2 subject and bodies, checked when saved: within their length
limits, compiling, and rendering a sample contact within the render budget (`trial`: the
caller's renderer, see db.validation.TrialRender)."""

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
    check_sources(fields, problems)
    if "tags" in fields:
        problems.add(v.tags(fields["tags"], "tags"))


TEMPLATE_SOURCES = ("subject", "body_html", "body_text")


def check_sources(fields: Mapping[str, Any], problems: v.Problems) -> None:
    """Lengths and syntax of the template sources among `fields`."""
    if "subject" in fields:
        problems.add(
            v.text(fields["subject"], v.MAX_SUBJECT_LENGTH, "subject", needed=True)
            or v.jinja_template(fields["subject"], "subject")
        )
    if "body_html" in fields:
        problems.add(
            v.required(fields["body_html"], "body_html")
            or v.max_length(fields["body_html"], v.MAX_BODY_LENGTH, "body_html")
            or v.jinja_template(fields["body_html"], "body_html")
        )
    if "body_text" in fields:
        problems.add(
            v.max_length(fields["body_text"], v.MAX_BODY_LENGTH, "body_text")
            or v.jinja_template(fields["body_text"], "body_text")
        )


async def check_budget(
    fields: Mapping[str, Any], trial: v.TrialRender, problems: v.Problems
) -> None:
    """The template sources among `fields` render a sample contact within the budget."""
    sources = {name: fields[name] for name in TEMPLATE_SOURCES if name in fields}
    await v.within_budget(sources, trial, problems)


async def create_email_template(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any], trial: v.TrialRender
) -> EmailTemplate:
    problems = v.Problems()
    check_template(fields, problems)
    await check_budget(fields, trial, problems)
    problems.raise_if_any()
    if await code_taken(session, EmailTemplate, account_id, fields["code"]):
        raise DomainError.one(ErrorCode.DUPLICATE, "A template with this code exists.", "code")
    template = EmailTemplate(account_id=account_id, **fields)
    session.add(template)
    await session.flush()
    return template


async def update_email_template(
    session: AsyncSession,
    account_id: int,
    template_id: int,
    changes: Mapping[str, Any],
    trial: v.TrialRender,
) -> EmailTemplate:
    problems = v.Problems()
    check_template(changes, problems)
    await check_budget(changes, trial, problems)
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
