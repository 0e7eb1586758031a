from datetime import datetime
from decimal import Decimal
from typing import Self

import strawberry

from db import models
from graph.context import Info
from graph.enums import ContactSource
from graph.ids import encode_id
from graph.pagination import Connection
from graph.types.consent_change import ConsentChange, consent_changes
from graph.types.node import Node, money


@strawberry.type(description="Which channels a contact agreed to receive marketing on.")
class MarketingConsent:
    email: bool = strawberry.field(description="Email campaigns may reach this contact.")
    sms: bool = strawberry.field(description="SMS campaigns may reach this contact.")
    whatsapp: bool = strawberry.field(description="WhatsApp campaigns may reach this contact.")


@strawberry.type(
    description="A person campaigns can reach, by email, by phone or both: at least one. "
    "Unique within an account by email when it has one, and by phone number when it has one."
)
class Contact(Node):
    pk: strawberry.Private[int]
    email: str | None = strawberry.field(
        description="Email address, stored lowercased; null for a phone-only contact (email "
        "campaigns skip it)."
    )
    first_name: str = strawberry.field(description="At most 100 characters.")
    last_name: str = strawberry.field(description="At most 100 characters.")
    phone: str = strawberry.field(description="E.164 phone number, or empty.")
    whatsapp: str = strawberry.field(description="E.164 WhatsApp number, or empty.")
    country: str = strawberry.field(description="ISO 3166 alpha-2 code, or empty.")
    source: ContactSource = strawberry.field(description="How the contact came in.")
    marketing_consent: MarketingConsent = strawberry.field(description="Consent per channel.")
    ltv: Decimal = strawberry.field(description="Revenue attributed to the contact (read-only).")
    ltv_currency: str = strawberry.field(description="ISO 4217 currency of `ltv`.")
    last_purchased_at: datetime | None = strawberry.field(
        description="When revenue was last attributed to the contact."
    )
    created_at: datetime = strawberry.field(description="When the contact was created.")
    updated_at: datetime = strawberry.field(description="When the contact last changed.")

    @strawberry.field(description="Tags, sorted; audiences select contacts by tag.")
    async def tags(self, info: Info) -> list[str]:
        return await info.context.loaders.tags_by_contact.load(self.pk)

    @strawberry.field(
        description="Every change of the contact's consent, per channel, newest first: "
        "when, which way and why (STOP, a provider's opt-out, an unsubscribe link, the API)."
    )
    async def consent_changes(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ConsentChange]:
        return await consent_changes(self.pk, info, first, after, last, before)

    @classmethod
    def from_model(cls, m: models.Contact) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Contact", m.id)),
            pk=m.id,
            email=m.email,
            first_name=m.first_name,
            last_name=m.last_name,
            phone=m.phone or "",
            whatsapp=m.whatsapp,
            country=m.country,
            source=m.source,
            marketing_consent=MarketingConsent(
                email=m.consent_email, sms=m.consent_sms, whatsapp=m.consent_whatsapp
            ),
            ltv=money(m.ltv_cents),
            ltv_currency=m.ltv_currency,
            last_purchased_at=m.last_purchased_at,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )
