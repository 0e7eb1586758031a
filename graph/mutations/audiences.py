"""Audience mutations."""

import strawberry
from strawberry.types.unset import UNSET

from db.usecases import audiences as uc
from graph.context import Info
from graph.errors import UserError
from graph.limits_text import DESCRIPTION, NAME, TAGS
from graph.mutations.support import DeletePayload, pk, provided, write
from graph.types.audience import Audience


@strawberry.input(description="Create an audience: the contacts carrying any of `tags`.")
class CreateAudienceInput:
    name: str = strawberry.field(description=f"Required. {NAME}")
    tags: list[str] = strawberry.field(description=f"At least one tag. {TAGS}")
    description: str = strawberry.field(default="", description=DESCRIPTION)
    code: str | None = strawberry.field(
        default=None,
        description="Unique slug (lowercase letters, digits, single hyphens; at most 100); "
        "made from the name when left out.",
    )


@strawberry.input(description="Change an audience; fields left out keep their value.")
class UpdateAudienceInput:
    id: strawberry.ID = strawberry.field(description="The audience's global ID.")
    name: str | None = strawberry.field(default=UNSET, description=NAME)
    tags: list[str] | None = strawberry.field(
        default=UNSET, description=f"At least one tag. {TAGS}"
    )
    description: str | None = strawberry.field(default=UNSET, description=DESCRIPTION)
    code: str | None = strawberry.field(default=UNSET, description="Unique slug; at most 100.")


@strawberry.input(description="Delete an audience no campaign uses.")
class DeleteAudienceInput:
    id: strawberry.ID = strawberry.field(description="The audience's global ID.")


@strawberry.type(description="Result of createAudience / updateAudience.")
class AudiencePayload:
    audience: Audience | None = strawberry.field(default=None, description="Null when refused.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="Result of createAudience.")
class CreateAudiencePayload(AudiencePayload):
    pass


@strawberry.type(description="Result of updateAudience.")
class UpdateAudiencePayload(AudiencePayload):
    pass


@strawberry.type(description="Result of deleteAudience.")
class DeleteAudiencePayload(DeletePayload):
    pass


@strawberry.type
class AudienceMutations:
    @strawberry.mutation(description="Create an audience.")
    async def create_audience(
        self, info: Info, input: CreateAudienceInput
    ) -> CreateAudiencePayload:
        fields = provided(input)
        result = await write(info, lambda s, a: uc.create_audience(s, a, fields))
        if isinstance(result, list):
            return CreateAudiencePayload(user_errors=result)
        return CreateAudiencePayload(audience=Audience.from_model(result))

    @strawberry.mutation(description="Change an audience.")
    async def update_audience(
        self, info: Info, input: UpdateAudienceInput
    ) -> UpdateAudiencePayload:
        fields = provided(input)
        result = await write(
            info, lambda s, a: uc.update_audience(s, a, pk(input.id, "Audience"), fields)
        )
        if isinstance(result, list):
            return UpdateAudiencePayload(user_errors=result)
        return UpdateAudiencePayload(audience=Audience.from_model(result))

    @strawberry.mutation(description="Delete an audience; refused while campaigns use it.")
    async def delete_audience(
        self, info: Info, input: DeleteAudienceInput
    ) -> DeleteAudiencePayload:
        result = await write(info, lambda s, a: uc.delete_audience(s, a, pk(input.id, "Audience")))
        if isinstance(result, list):
            return DeleteAudiencePayload(user_errors=result)
        return DeleteAudiencePayload(deleted_id=input.id)
