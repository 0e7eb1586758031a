"""Campaign mutations: create (plain and one-step email), update, delete."""

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types.unset import UNSET

from db.types import utcnow
from db.usecases import campaigns as uc
from graph import template_docs as docs
from graph.context import Info
from graph.enums import ContentType
from graph.errors import UserError
from graph.ids import decode_ref
from graph.limits_text import ADDRESS, CONVERSION_PAYLOADS, DESCRIPTION, NAME, REF, TAGS
from graph.mutations.support import DeletePayload, pk, provided, write
from graph.template_trial import trial_render
from graph.types.campaign import Campaign
from jobs.progress import publish

_REF_TYPES = {
    "audience": "Audience",
    "email_channel": "EmailChannel",
    "email_template": "EmailTemplate",
}
# Fields where null is a value ("no schedule", "no spreading"), not "leave as is".
_NULLABLE = frozenset({"scheduled_at", "execution_duration_minutes", "conversion_payloads"})


def campaign_fields(data: Any) -> dict[str, Any]:
    fields = provided(data, nullable=_NULLABLE)
    for name, type_name in _REF_TYPES.items():
        if fields.get(name) is not None:
            fields[name] = decode_ref(fields[name], type_name)
    return fields


@strawberry.input(description="Create a campaign in draft from existing objects.")
class CreateCampaignInput:
    name: str = strawberry.field(description=f"Required. {NAME}")
    audience: strawberry.ID = strawberry.field(description=f"The audience. {REF}")
    email_channel: strawberry.ID = strawberry.field(description=f"The channel. {REF}")
    email_template: strawberry.ID = strawberry.field(description=f"The template. {REF}")
    description: str = strawberry.field(default="", description=DESCRIPTION)
    scheduled_at: datetime | None = strawberry.field(
        default=None, description="When to send (future); null: when started."
    )
    execution_duration_minutes: int | None = strawberry.field(
        default=None, description="Spread sends over 1..1440 minutes; null: as fast as allowed."
    )
    from_email: str = strawberry.field(
        default="", description=f"Empty: channel's, then account's. {ADDRESS}"
    )
    from_name: str = strawberry.field(
        default="", description=f"From display name; empty: channel's, then account's. {NAME}"
    )
    reply_to_email: str = strawberry.field(
        default="", description=f"Empty: channel's, then account's. {ADDRESS}"
    )
    reply_to_name: str = strawberry.field(
        default="", description=f"Reply-To display name; empty: channel's, then account's. {NAME}"
    )
    utm_code: str = strawberry.field(
        default="", description="utm_campaign for links; one line, at most 100."
    )


@strawberry.input(
    description="One step: creates an audience from contact tags, a template from subject "
    "and bodies, and a draft campaign using them."
)
class CreateEmailCampaignInput:
    campaign_name: str = strawberry.field(description=f"Required. {NAME}")
    email_channel: str = strawberry.field(description="The channel's code; at most 50.")
    contact_tags: list[str] = strawberry.field(
        description=f"The new audience: contacts carrying any of these tags. {TAGS}"
    )
    subject: str = strawberry.field(description=docs.SUBJECT)
    body_html: str = strawberry.field(description=docs.BODY_HTML)
    body_text: str = strawberry.field(default="", description=docs.BODY_TEXT)
    description: str = strawberry.field(default="", description=DESCRIPTION)
    utm_code: str = strawberry.field(default="", description="utm_campaign; one line, at most 100.")
    from_email: str = strawberry.field(
        default="",
        description=f"Required if neither channel nor account has a default. {ADDRESS}",
    )
    from_name: str = strawberry.field(
        default="", description=f"From display name; empty: channel's, then account's. {NAME}"
    )
    reply_to_email: str = strawberry.field(
        default="",
        description=f"Required if neither channel nor account has a default. {ADDRESS}",
    )
    reply_to_name: str = strawberry.field(
        default="", description=f"Reply-To display name; empty: channel's, then account's. {NAME}"
    )
    scheduled_at: datetime | None = strawberry.field(default=None, description="When to send.")
    execution_duration_minutes: int | None = strawberry.field(
        default=None, description="Spread sends over 1..1440 minutes."
    )
    audience_name: str = strawberry.field(default="", description=f"Default: campaign_name. {NAME}")
    template_name: str = strawberry.field(default="", description=f"Default: campaign_name. {NAME}")


@strawberry.input(
    description="Change a campaign; fields left out keep their value. Only name and "
    "description (and, until it ends, conversionPayloads) may change after the campaign "
    "leaves draft/scheduled. The email fields "
    "(emailChannel, emailTemplate, from/reply-to, utmCode) belong to email campaigns and "
    "the content fields to WhatsApp/SMS ones: given to the other kind, INVALID."
)
class UpdateCampaignInput:
    id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    name: str | None = strawberry.field(default=UNSET, description=NAME)
    description: str | None = strawberry.field(default=UNSET, description=DESCRIPTION)
    audience: strawberry.ID | None = strawberry.field(default=UNSET, description=REF)
    email_channel: strawberry.ID | None = strawberry.field(default=UNSET, description=REF)
    email_template: strawberry.ID | None = strawberry.field(default=UNSET, description=REF)
    scheduled_at: datetime | None = strawberry.field(
        default=UNSET, description="Future time; null clears it (draft only)."
    )
    execution_duration_minutes: int | None = strawberry.field(
        default=UNSET, description="1..1440; null: as fast as allowed."
    )
    from_email: str | None = strawberry.field(default=UNSET, description=f"From. {ADDRESS}")
    from_name: str | None = strawberry.field(
        default=UNSET, description=f"From display name; empty: channel's, then account's. {NAME}"
    )
    reply_to_email: str | None = strawberry.field(default=UNSET, description=f"Reply-To. {ADDRESS}")
    reply_to_name: str | None = strawberry.field(
        default=UNSET,
        description=f"Reply-To display name; empty: channel's, then account's. {NAME}",
    )
    utm_code: str | None = strawberry.field(default=UNSET, description="utm_campaign; max 100.")
    content_type: ContentType | None = strawberry.field(
        default=UNSET,
        description="WhatsApp/SMS: the content's type; the context is checked against it.",
    )
    content_context: JSON | None = strawberry.field(
        default=UNSET,
        description="WhatsApp/SMS: new content, checked as in createMessagingCampaign (a "
        "userError per problem, its field the path in the JSON). A change replaces a "
        "contentSid template and makes a WhatsApp campaign UNSUBMITTED again (a scheduled "
        "one then starts only if approved again by its time; it fails otherwise). Leads "
        "without a value for a variable it adds are left out at start, and counted.",
    )
    conversion_payloads: list[str] | None = strawberry.field(
        default=UNSET,
        description=f"WhatsApp/SMS: {CONVERSION_PAYLOADS} Null or [] clears them. Unlike the "
        "content, they may change while the campaign runs or is paused (taps from then on "
        "are judged by the new list; conversions already counted stay), but not once it has "
        "ended (completed, cancelled, failed: NOT_EDITABLE).",
    )


@strawberry.input(description="Delete a campaign that is not running, with its ledger.")
class DeleteCampaignInput:
    id: strawberry.ID = strawberry.field(description="The campaign's global ID.")


@strawberry.type(description="Result of a campaign mutation.")
class CampaignPayload:
    campaign: Campaign | None = strawberry.field(default=None, description="Null when refused.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="Result of createCampaign.")
class CreateCampaignPayload(CampaignPayload):
    pass


@strawberry.type(description="Result of createEmailCampaign.")
class CreateEmailCampaignPayload(CampaignPayload):
    pass


@strawberry.type(description="Result of updateCampaign.")
class UpdateCampaignPayload(CampaignPayload):
    pass


@strawberry.type(description="Result of deleteCampaign.")
class DeleteCampaignPayload(DeletePayload):
    pass


@strawberry.type
class CampaignMutations:
    @strawberry.mutation(description="Create a draft campaign from existing objects.")
    async def create_campaign(
        self, info: Info, input: CreateCampaignInput
    ) -> CreateCampaignPayload:
        fields = campaign_fields(input)
        result = await write(info, lambda s, a: uc.create_campaign(s, a, fields, utcnow()))
        if isinstance(result, list):
            return CreateCampaignPayload(user_errors=result)
        await publish(info.context.db, info.context.queue, result.id)  # list views
        return CreateCampaignPayload(campaign=Campaign.from_model(result))

    @strawberry.mutation(
        description="Create audience, template and draft campaign in one step (all or nothing)."
    )
    async def create_email_campaign(
        self, info: Info, input: CreateEmailCampaignInput
    ) -> CreateEmailCampaignPayload:
        fields = provided(input)
        trial = trial_render(info.context.renderer)
        result = await write(
            info, lambda s, a: uc.create_email_campaign(s, a, fields, utcnow(), trial)
        )
        if isinstance(result, list):
            return CreateEmailCampaignPayload(user_errors=result)
        await publish(info.context.db, info.context.queue, result.id)  # list views
        return CreateEmailCampaignPayload(campaign=Campaign.from_model(result))

    @strawberry.mutation(description="Change a campaign (partial).")
    async def update_campaign(
        self, info: Info, input: UpdateCampaignInput
    ) -> UpdateCampaignPayload:
        fields = campaign_fields(input)
        result = await write(
            info,
            lambda s, a: uc.update_campaign(s, a, pk(input.id, "Campaign"), fields, utcnow()),
        )
        if isinstance(result, list):
            return UpdateCampaignPayload(user_errors=result)
        await publish(info.context.db, info.context.queue, result.id)  # list views
        return UpdateCampaignPayload(campaign=Campaign.from_model(result))

    @strawberry.mutation(description="Delete a campaign; refused while it is running.")
    async def delete_campaign(
        self, info: Info, input: DeleteCampaignInput
    ) -> DeleteCampaignPayload:
        result = await write(info, lambda s, a: uc.delete_campaign(s, a, pk(input.id, "Campaign")))
        if isinstance(result, list):
            return DeleteCampaignPayload(user_errors=result)
        return DeleteCampaignPayload(deleted_id=input.id)
