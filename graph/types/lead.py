from datetime import datetime
from typing import Self, cast

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON

from db import models
from db.lead_status import lead_status
from graph.context import Info
from graph.enums import LeadStatus
from graph.ids import encode_id
from graph.pagination import Connection, paginate
from graph.types.contact import Contact
from graph.types.node import Node
from graph.types.reply import Reply


@strawberry.type(
    description="A recipient of a WhatsApp/SMS campaign, added by number or as a "
    "conversation user (an existing contact), with its own variables and its message's "
    "status. Each lead is sent at most one message by its campaign."
)
class Lead(Node):
    pk: strawberry.Private[int]
    contact_id: strawberry.Private[int]
    phone_number: str = strawberry.field(
        description="Where its message goes, in E.164 (WhatsApp adds the whatsapp: prefix)."
    )
    conversation_user_id: strawberry.ID | None = strawberry.field(
        description="The contact's ID when the lead was added as a conversation user; null "
        "when it was added by number."
    )
    custom_variables: JSON = strawberry.field(
        description="Its own variables (names to strings), beside its contact's fields."
    )
    status: LeadStatus = strawberry.field(description="Its message's status.")
    message_sid: str | None = strawberry.field(
        description="Twilio's id of its message (SM…/MM…); null until sent."
    )
    error_code: str | None = strawberry.field(
        description="Twilio's error code of the last failure (e.g. 21211); null if none."
    )
    error_message: str | None = strawberry.field(
        description="Why it was not sent or not received; null if nothing went wrong."
    )
    sent_at: datetime | None = strawberry.field(description="When Twilio took its message.")
    delivered_at: datetime | None = strawberry.field(
        description="When Twilio reported its message delivered (null until then)."
    )
    read_at: datetime | None = strawberry.field(
        description="When Twilio reported its message read (WhatsApp; null until then)."
    )
    replied_at: datetime | None = strawberry.field(
        description="When its first reply arrived (null until then)."
    )
    converted_at: datetime | None = strawberry.field(
        description="When it converted (set once; null until then): the first revenue "
        "attributed to it by addLtv, or its tap on one of the campaign's conversionPayloads, "
        "after its message was sent."
    )
    possible_duplicate: bool = strawberry.field(
        description="True when an attempt's outcome was lost (a crash, a timeout) and it was "
        "tried again: it may have received two copies (none was found in Twilio first)."
    )
    active: bool = strawberry.field(
        description="False once removed (removeLeads); a removed lead is not sent."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A service campaign's lead: the triggerServiceMessage key that made it; "
        "null for a lead added or started with the campaign.",
    )

    @strawberry.field(description="The contact the lead is (made for its number if new).")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact.load(self.contact_id)
        return Contact.from_model(row) if row else None

    @strawberry.field(
        description="The messages the lead's contact sent in answer to its message, newest "
        "first (consent keywords included: see Reply.optOutKeyword); at most 100 a page."
    )
    async def replies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Reply]:
        return await paginate(
            info.context.db,
            select(models.Reply).where(models.Reply.delivery_id == self.pk),
            models.Reply.id,
            Reply.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="Its newest reply; null before any.")
    async def last_reply(self, info: Info) -> Reply | None:
        row = await info.context.loaders.last_reply.load(self.pk)
        return Reply.from_model(row) if row else None

    @classmethod
    def from_model(cls, m: models.Delivery) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Lead", m.id)),
            pk=m.id,
            contact_id=m.contact_id,
            phone_number=m.address,
            conversation_user_id=(
                strawberry.ID(encode_id("Contact", m.contact_id)) if m.by_contact else None
            ),
            custom_variables=cast(JSON, dict(m.variables or {})),
            status=LeadStatus(lead_status(m).value),
            message_sid=m.message_id or None,
            error_code=m.error_code or None,
            error_message=m.error_message or None,
            sent_at=m.sent_at,
            delivered_at=m.delivered_at,
            read_at=m.read_at,
            replied_at=m.replied_at,
            converted_at=m.converted_at,
            possible_duplicate=m.possible_duplicate,
            active=m.active,
            idempotency_key=m.trigger_key or None,
        )
