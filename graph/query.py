"""The Query root: the viewer's account, `node`, and connections with filters."""

from typing import Any

import strawberry
from sqlalchemy import Select, or_, select

from db import models
from db import validation as v
from db.errors import Problem
from db.usecases.api_keys import active_keys
from graph.context import Info
from graph.enums import CampaignStatus, ChannelType, ContactSource
from graph.errors import ClientError
from graph.ids import decode_id, decode_ref
from graph.pagination import Connection, paginate
from graph.types.account import Account
from graph.types.api_key import ApiKey
from graph.types.audience import Audience
from graph.types.campaign import Campaign
from graph.types.contact import Contact
from graph.types.email_channel import EmailChannel
from graph.types.email_template import EmailTemplate
from graph.types.lead import Lead
from graph.types.node import Node
from graph.types.reply import Reply
from graph.types.twilio_channel import TwilioChannel

# Global ID type name -> (model, GraphQL type).
NODE_TYPES: dict[str, tuple[type[Any], Any]] = {
    "Account": (models.Account, Account),
    "ApiKey": (models.ApiKey, ApiKey),
    "Audience": (models.Audience, Audience),
    "Campaign": (models.Campaign, Campaign),
    "Lead": (models.Delivery, Lead),
    "Contact": (models.Contact, Contact),
    "Reply": (models.Reply, Reply),
    "EmailChannel": (models.EmailChannel, EmailChannel),
    "EmailTemplate": (models.EmailTemplate, EmailTemplate),
    "TwilioChannel": (models.TwilioChannel, TwilioChannel),
}


# Search text longer than any searchable column names nothing.
MAX_SEARCH_LENGTH = 255
MAX_STATUSES = len(CampaignStatus)


def _refuse(*problems: Problem | None) -> None:
    """A filter over its limits, or with control characters (PostgreSQL refuses NUL in
    text), is a malformed request (TOO_LONG / TOO_MANY / INVALID in the error's
    extensions): queries have no userErrors."""
    for problem in problems:
        if problem is not None:
            raise ClientError(problem.message, problem.code.name)


@strawberry.input(description="Narrows `campaigns`; all given conditions must hold.")
class CampaignFilter:
    q: str | None = strawberry.field(
        default=None,
        description="Text found in the name or description (case-insensitive); at most "
        f"{MAX_SEARCH_LENGTH} characters.",
    )
    status: list[CampaignStatus] | None = strawberry.field(
        default=None, description=f"Any of these statuses; at most {MAX_STATUSES}."
    )
    channel_type: ChannelType | None = strawberry.field(default=None, description="Channel.")
    audience: strawberry.ID | None = strawberry.field(
        default=None,
        description=f"The audience, by global ID or code; at most {v.MAX_CODE_LENGTH} characters.",
    )


@strawberry.input(description="Narrows `contacts`; all given conditions must hold.")
class ContactFilter:
    q: str | None = strawberry.field(
        default=None,
        description="Text found in email, first or last name or phone (case-insensitive); at "
        "most "
        f"{MAX_SEARCH_LENGTH} characters.",
    )
    source: ContactSource | None = strawberry.field(default=None, description="How they came.")
    tags: list[str] | None = strawberry.field(
        default=None,
        description=f"Contacts carrying ANY of these tags; at most {v.MAX_TAGS} tags of "
        f"{v.MAX_TAG_LENGTH} characters.",
    )


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _campaigns(account_id: int, where: CampaignFilter | None) -> Select[Any]:
    stmt = select(models.Campaign).where(models.Campaign.account_id == account_id)
    if where is None:
        return stmt
    _refuse(
        v.text(where.q or "", MAX_SEARCH_LENGTH, "q"),
        v.too_many(where.status or [], MAX_STATUSES, "status"),
        v.text(where.audience or "", v.MAX_CODE_LENGTH, "audience"),
    )
    if where.q:
        pattern = _contains(where.q)
        stmt = stmt.where(
            or_(
                models.Campaign.name.ilike(pattern, escape="\\"),
                models.Campaign.description.ilike(pattern, escape="\\"),
            )
        )
    if where.status:
        stmt = stmt.where(models.Campaign.status.in_(where.status))
    if where.channel_type:
        stmt = stmt.where(models.Campaign.channel_type == where.channel_type)
    if where.audience:
        ref = decode_ref(where.audience, "Audience")
        audience = (
            models.Audience.id == ref if isinstance(ref, int) else models.Audience.code == ref
        )
        stmt = stmt.where(
            models.Campaign.audience_id.in_(
                select(models.Audience.id).where(models.Audience.account_id == account_id, audience)
            )
        )
    return stmt


def _contacts(account_id: int, where: ContactFilter | None) -> Select[Any]:
    stmt = select(models.Contact).where(models.Contact.account_id == account_id)
    if where is None:
        return stmt
    _refuse(v.text(where.q or "", MAX_SEARCH_LENGTH, "q"), v.tags(where.tags or [], "tags"))
    if where.q:
        pattern = _contains(where.q)
        stmt = stmt.where(
            or_(
                models.Contact.email.ilike(pattern, escape="\\"),
                models.Contact.first_name.ilike(pattern, escape="\\"),
                models.Contact.last_name.ilike(pattern, escape="\\"),
                models.Contact.phone.ilike(pattern, escape="\\"),
            )
        )
    if where.source:
        stmt = stmt.where(models.Contact.source == where.source)
    if where.tags:
        stmt = stmt.where(
            models.Contact.id.in_(
                select(models.ContactTag.contact_id).where(
                    models.ContactTag.account_id == account_id,
                    models.ContactTag.tag.in_(where.tags),
                )
            )
        )
    return stmt


def _owned(model: type[Any], account_id: int, q: str | None = None) -> Select[Any]:
    stmt = select(model).where(model.account_id == account_id)
    _refuse(v.text(q or "", MAX_SEARCH_LENGTH, "q"))
    if q:
        stmt = stmt.where(model.name.ilike(_contains(q), escape="\\"))
    return stmt


@strawberry.type(description="Reads. Every list is a Relay connection, newest first.")
class Query:
    @strawberry.field(description="The account the API key belongs to.")
    async def viewer(self, info: Info) -> Account:
        async with info.context.db.read() as session:
            account = await session.get_one(models.Account, info.context.account_id)
        return Account.from_model(account)

    @strawberry.field(description="Any object by its global ID; null if not found.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        decoded = decode_id(id)
        if decoded is None or decoded[0] not in NODE_TYPES:
            return None
        model, gql_type = NODE_TYPES[decoded[0]]
        account_id = info.context.account_id
        async with info.context.db.read() as session:
            row = await session.get(model, decoded[1])
            if isinstance(row, models.Delivery):  # a Lead: a WhatsApp/SMS campaign's row
                campaign = await session.get_one(models.Campaign, row.campaign_id)
                if campaign.channel_type is ChannelType.EMAIL:
                    return None
        if row is None:
            return None
        owner = row.id if model is models.Account else row.account_id
        return gql_type.from_model(row) if owner == account_id else None

    @strawberry.field(description="A campaign by global ID; null if not found.")
    async def campaign(self, info: Info, id: strawberry.ID) -> Campaign | None:
        node = await Query.node(self, info, id)
        return node if isinstance(node, Campaign) else None

    @strawberry.field(description="The account's campaigns.")
    async def campaigns(
        self,
        info: Info,
        filter: CampaignFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Campaign]:
        return await paginate(
            info.context.db,
            _campaigns(info.context.account_id, filter),
            models.Campaign.id,
            Campaign.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="The account's contacts.")
    async def contacts(
        self,
        info: Info,
        filter: ContactFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Contact]:
        return await paginate(
            info.context.db,
            _contacts(info.context.account_id, filter),
            models.Contact.id,
            Contact.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(
        description=f"The account's audiences; `q` searches names (at most {MAX_SEARCH_LENGTH})."
    )
    async def audiences(
        self,
        info: Info,
        q: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Audience]:
        return await paginate(
            info.context.db,
            _owned(models.Audience, info.context.account_id, q),
            models.Audience.id,
            Audience.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="The account's active API keys (revoked ones are gone).")
    async def api_keys(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ApiKey]:
        return await paginate(
            info.context.db,
            active_keys(info.context.account_id),
            models.ApiKey.id,
            ApiKey.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="The account's email channels.")
    async def email_channels(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[EmailChannel]:
        return await paginate(
            info.context.db,
            _owned(models.EmailChannel, info.context.account_id),
            models.EmailChannel.id,
            EmailChannel.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="A Twilio channel by global ID; null if not found.")
    async def twilio_channel(self, info: Info, id: strawberry.ID) -> TwilioChannel | None:
        node = await Query.node(self, info, id)
        return node if isinstance(node, TwilioChannel) else None

    @strawberry.field(
        description="The account's Twilio channels (WhatsApp and SMS); at most 100 a page."
    )
    async def twilio_channels(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TwilioChannel]:
        return await paginate(
            info.context.db,
            _owned(models.TwilioChannel, info.context.account_id),
            models.TwilioChannel.id,
            TwilioChannel.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(
        description="The account's email templates; `q` searches names (at most "
        f"{MAX_SEARCH_LENGTH})."
    )
    async def email_templates(
        self,
        info: Info,
        q: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[EmailTemplate]:
        return await paginate(
            info.context.db,
            _owned(models.EmailTemplate, info.context.account_id, q),
            models.EmailTemplate.id,
            EmailTemplate.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )
