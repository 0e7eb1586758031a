"""Email template mutations."""

import strawberry
from strawberry.types.unset import UNSET

from db.usecases import email_templates as uc
from graph import template_docs as docs
from graph.context import Info
from graph.errors import UserError
from graph.limits_text import NAME, TAGS
from graph.mutations.support import DeletePayload, pk, provided, write
from graph.template_trial import trial_render
from graph.types.email_template import EmailTemplate


@strawberry.input(
    description="Create an email template; Jinja2 must compile and render within the render budget."
)
class CreateEmailTemplateInput:
    name: str = strawberry.field(description=f"Required. {NAME}")
    code: str = strawberry.field(description="Unique in the account; one line, at most 100.")
    subject: str = strawberry.field(description=docs.SUBJECT)
    body_html: str = strawberry.field(description=docs.BODY_HTML)
    body_text: str = strawberry.field(default="", description=docs.BODY_TEXT)
    tags: list[str] = strawberry.field(default_factory=list, description=f"Labels. {TAGS}")
    is_base: bool = strawberry.field(default=False, description="A base layout.")


@strawberry.input(description="Change an email template; fields left out keep their value.")
class UpdateEmailTemplateInput:
    id: strawberry.ID = strawberry.field(description="The template's global ID.")
    name: str | None = strawberry.field(default=UNSET, description=NAME)
    code: str | None = strawberry.field(default=UNSET, description="Unique code; at most 100.")
    subject: str | None = strawberry.field(default=UNSET, description=docs.SUBJECT)
    body_html: str | None = strawberry.field(default=UNSET, description=docs.BODY_HTML)
    body_text: str | None = strawberry.field(default=UNSET, description=docs.BODY_TEXT)
    tags: list[str] | None = strawberry.field(default=UNSET, description=f"Labels. {TAGS}")
    is_base: bool | None = strawberry.field(default=UNSET, description="A base layout.")


@strawberry.input(description="Delete an email template no campaign uses.")
class DeleteEmailTemplateInput:
    id: strawberry.ID = strawberry.field(description="The template's global ID.")


@strawberry.type(description="Result of createEmailTemplate / updateEmailTemplate.")
class EmailTemplatePayload:
    email_template: EmailTemplate | None = strawberry.field(
        default=None, description="Null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="Result of createEmailTemplate.")
class CreateEmailTemplatePayload(EmailTemplatePayload):
    pass


@strawberry.type(description="Result of updateEmailTemplate.")
class UpdateEmailTemplatePayload(EmailTemplatePayload):
    pass


@strawberry.type(description="Result of deleteEmailTemplate.")
class DeleteEmailTemplatePayload(DeletePayload):
    pass


@strawberry.type
class EmailTemplateMutations:
    @strawberry.mutation(description="Create an email template.")
    async def create_email_template(
        self, info: Info, input: CreateEmailTemplateInput
    ) -> CreateEmailTemplatePayload:
        fields = provided(input)
        trial = trial_render(info.context.renderer)
        result = await write(info, lambda s, a: uc.create_email_template(s, a, fields, trial))
        if isinstance(result, list):
            return CreateEmailTemplatePayload(user_errors=result)
        return CreateEmailTemplatePayload(email_template=EmailTemplate.from_model(result))

    @strawberry.mutation(description="Change an email template.")
    async def update_email_template(
        self, info: Info, input: UpdateEmailTemplateInput
    ) -> UpdateEmailTemplatePayload:
        fields = provided(input)
        trial = trial_render(info.context.renderer)
        result = await write(
            info,
            lambda s, a: uc.update_email_template(
                s, a, pk(input.id, "EmailTemplate"), fields, trial
            ),
        )
        if isinstance(result, list):
            return UpdateEmailTemplatePayload(user_errors=result)
        return UpdateEmailTemplatePayload(email_template=EmailTemplate.from_model(result))

    @strawberry.mutation(description="Delete an email template; refused while campaigns use it.")
    async def delete_email_template(
        self, info: Info, input: DeleteEmailTemplateInput
    ) -> DeleteEmailTemplatePayload:
        result = await write(
            info, lambda s, a: uc.delete_email_template(s, a, pk(input.id, "EmailTemplate"))
        )
        if isinstance(result, list):
            return DeleteEmailTemplatePayload(user_errors=result)
        return DeleteEmailTemplatePayload(deleted_id=input.id)
