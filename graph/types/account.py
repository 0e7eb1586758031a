from typing import Self

import strawberry

from db import models
from graph.ids import encode_id
from graph.types.node import Node


@strawberry.type(description="The account an API key belongs to, with its sender defaults.")
class Account(Node):
    name: str = strawberry.field(description="Display name, at most 255 characters.")
    default_from_email: str = strawberry.field(
        description="From address used when neither campaign nor channel sets one; may be empty."
    )
    default_from_name: str = strawberry.field(description="Default from name; at most 255.")
    default_reply_to_email: str = strawberry.field(
        description="Reply-to address used when neither campaign nor channel sets one."
    )
    default_reply_to_name: str = strawberry.field(description="Default reply-to name; at most 255.")

    @classmethod
    def from_model(cls, m: models.Account) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Account", m.id)),
            name=m.name,
            default_from_email=m.default_from_email,
            default_from_name=m.default_from_name,
            default_reply_to_email=m.default_reply_to_email,
            default_reply_to_name=m.default_reply_to_name,
        )
