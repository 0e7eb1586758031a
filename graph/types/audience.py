from datetime import datetime
from typing import Self

import strawberry

from db import models
from graph.context import Info
from graph.ids import encode_id
from graph.types.node import Node


@strawberry.type(description="A segment: every contact that carries at least one of its tags.")
class Audience(Node):
    pk: strawberry.Private[int]
    account_id: strawberry.Private[int]
    name: str = strawberry.field(description="At most 255 characters.")
    description: str = strawberry.field(description="Free text.")
    code: str = strawberry.field(
        description="Unique slug (lowercase letters, digits, single hyphens; at most 100)."
    )
    tags: list[str] = strawberry.field(
        description="A contact belongs when it carries ANY of these tags (at least one tag)."
    )
    created_at: datetime = strawberry.field(description="When the audience was created.")
    updated_at: datetime = strawberry.field(description="When the audience last changed.")

    @strawberry.field(
        description="Members that may be emailed (with an email and email consent), now. "
        "Batched: a page of audiences costs one query."
    )
    async def reachable_count(self, info: Info) -> int:
        key = (self.account_id, tuple(self.tags))
        return await info.context.loaders.reachable_count.load(key)

    @classmethod
    def from_model(cls, m: models.Audience) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Audience", m.id)),
            pk=m.id,
            account_id=m.account_id,
            name=m.name,
            description=m.description,
            code=m.code,
            tags=list(m.tags),
            created_at=m.created_at,
            updated_at=m.updated_at,
        )
