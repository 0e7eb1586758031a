"""Contact mutations, including the bulk upsert `importContacts`."""

from typing import Any

import strawberry
from strawberry.types.unset import UNSET

from db.usecases import contact_import
from db.usecases import contacts as uc
from graph.context import Info
from graph.enums import ContactSource
from graph.errors import UserError
from graph.limits_text import ADDRESS, PHONE, TAGS
from graph.mutations.support import DeletePayload, pk, provided, write
from graph.types.contact import Contact


@strawberry.input(description="Consent per channel; a field left out keeps its value.")
class MarketingConsentInput:
    email: bool | None = strawberry.field(default=UNSET, description="Email campaigns.")
    sms: bool | None = strawberry.field(default=UNSET, description="SMS campaigns.")
    whatsapp: bool | None = strawberry.field(default=UNSET, description="WhatsApp campaigns.")


@strawberry.input(description="A contact's fields; those left out keep their value (or default).")
class ContactFields:
    email: str | None = strawberry.field(
        default=UNSET,
        description="Stored lowercased; unique in the account (DUPLICATE). A contact needs "
        "an email or a phone (REQUIRED); empty means none (updateContact: removes it, "
        f"importContacts: not given). {ADDRESS}",
    )
    first_name: str | None = strawberry.field(
        default=UNSET, description="One line, no control characters; at most 100."
    )
    last_name: str | None = strawberry.field(
        default=UNSET, description="One line, no control characters; at most 100."
    )
    phone: str | None = strawberry.field(
        default=UNSET,
        description="Stored in E.164; unique in the account (DUPLICATE). A contact needs an "
        "email or a phone (REQUIRED); empty means none (updateContact: removes it, "
        f"importContacts: not given). {PHONE}",
    )
    whatsapp: str | None = strawberry.field(
        default=UNSET, description=f"WhatsApp number, stored in E.164; empty means none. {PHONE}"
    )
    country: str | None = strawberry.field(
        default=UNSET,
        description="ISO 3166 alpha-2, upper case; the region of national phone numbers.",
    )
    source: ContactSource | None = strawberry.field(default=UNSET, description="Default unknown.")
    tags: list[str] | None = strawberry.field(
        default=UNSET,
        description=f"Replaces the tags (importContacts adds to them instead). {TAGS}",
    )
    marketing_consent: MarketingConsentInput | None = strawberry.field(
        default=UNSET, description="New contacts consent to every channel unless told otherwise."
    )


def contact_fields(data: ContactFields) -> dict[str, Any]:
    """Input as model fields; null means "leave as is" for every field."""
    fields = provided(data)
    consent = fields.pop("marketing_consent", None)
    if consent is not None:
        for channel, value in provided(consent).items():
            fields[f"consent_{channel}"] = value
    return fields


@strawberry.input(description="Create one contact.")
class CreateContactInput(ContactFields):
    pass


@strawberry.input(description="Change a contact; fields left out keep their value.")
class UpdateContactInput(ContactFields):
    id: strawberry.ID = strawberry.field(description="The contact's global ID.")


@strawberry.input(description="Delete a contact (its deliveries go with it).")
class DeleteContactInput:
    id: strawberry.ID = strawberry.field(description="The contact's global ID.")


@strawberry.input(
    description="Up to 10,000 contacts (TOO_MANY), upserted by email, else by phone number."
)
class ImportContactsInput:
    contacts: list[ContactFields] = strawberry.field(
        description="Each row needs an email or a phone (REQUIRED). A row updates the contact "
        "with its email, else the one with its phone (a phone-only contact then gets the "
        "row's email), else creates one. DUPLICATE on the row's phone when its email and "
        "phone name two contacts, or its phone is another email's contact's; DUPLICATE when "
        "two rows name one contact. Updated contacts get the fields the row gives; fields "
        "it leaves out keep their value; its tags are added."
    )


@strawberry.type(description="Result of createContact / updateContact.")
class ContactPayload:
    contact: Contact | None = strawberry.field(default=None, description="Null when refused.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="Result of importContacts.")
class ImportContactsPayload:
    created_count: int = strawberry.field(default=0, description="New contacts.")
    updated_count: int = strawberry.field(default=0, description="Existing contacts updated.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Every invalid row, by path; if any, nothing was imported.",
    )


@strawberry.type(description="Result of createContact.")
class CreateContactPayload(ContactPayload):
    pass


@strawberry.type(description="Result of updateContact.")
class UpdateContactPayload(ContactPayload):
    pass


@strawberry.type(description="Result of deleteContact.")
class DeleteContactPayload(DeletePayload):
    pass


@strawberry.type
class ContactMutations:
    @strawberry.mutation(
        description="Create a contact with an email, a phone number or both; each unique in "
        "the account."
    )
    async def create_contact(self, info: Info, input: CreateContactInput) -> CreateContactPayload:
        fields = contact_fields(input)
        result = await write(info, lambda s, a: uc.create_contact(s, a, fields))
        if isinstance(result, list):
            return CreateContactPayload(user_errors=result)
        return CreateContactPayload(contact=Contact.from_model(result))

    @strawberry.mutation(description="Change a contact's fields.")
    async def update_contact(self, info: Info, input: UpdateContactInput) -> UpdateContactPayload:
        fields = contact_fields(input)
        result = await write(
            info, lambda s, a: uc.update_contact(s, a, pk(input.id, "Contact"), fields)
        )
        if isinstance(result, list):
            return UpdateContactPayload(user_errors=result)
        return UpdateContactPayload(contact=Contact.from_model(result))

    @strawberry.mutation(description="Delete a contact.")
    async def delete_contact(self, info: Info, input: DeleteContactInput) -> DeleteContactPayload:
        result = await write(info, lambda s, a: uc.delete_contact(s, a, pk(input.id, "Contact")))
        if isinstance(result, list):
            return DeleteContactPayload(user_errors=result)
        return DeleteContactPayload(deleted_id=input.id)

    @strawberry.mutation(
        description="Upsert up to 10,000 contacts by email, else by phone number, in one "
        "transaction: all or nothing."
    )
    async def import_contacts(
        self, info: Info, input: ImportContactsInput
    ) -> ImportContactsPayload:
        rows = [contact_fields(row) for row in input.contacts]
        result = await write(info, lambda s, a: contact_import.import_contacts(s, a, rows))
        if isinstance(result, list):
            return ImportContactsPayload(user_errors=result)
        created, updated = result
        return ImportContactsPayload(created_count=created, updated_count=updated)
