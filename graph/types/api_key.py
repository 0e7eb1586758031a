from datetime import datetime
from typing import Self

import strawberry

from db import models
from graph.ids import encode_id
from graph.types.node import Node


@strawberry.type(
    description="An active API key of the account. The key itself is shown only once, by "
    "createApiKey; only its SHA-256 is stored."
)
class ApiKey(Node):
    name: str = strawberry.field(description="A label for it; at most 255 characters.")
    prefix: str = strawberry.field(
        description="The key's first 10 characters, to tell keys apart (clr_…)."
    )
    created_at: datetime = strawberry.field(description="When the key was created.")
    last_used_at: datetime | None = strawberry.field(
        description="When it last authenticated a request, to the minute (recorded at most "
        "once a minute); null if never."
    )

    @classmethod
    def from_model(cls, m: models.ApiKey) -> Self:
        return cls(
            id=strawberry.ID(encode_id("ApiKey", m.id)),
            name=m.name,
            prefix=m.prefix,
            created_at=m.created_at,
            last_used_at=m.last_used_at,
        )
