from datetime import datetime
from typing import Self

import strawberry

from db import models
from graph import template_docs as docs
from graph.ids import encode_id
from graph.types.node import Node


@strawberry.type(
    description="Jinja2 subject and bodies. Context: the contact's fields (`first_name`, "
    "`email`, …) and `unsubscribe_link`."
)
class EmailTemplate(Node):
    name: str = strawberry.field(description="At most 255 characters.")
    code: str = strawberry.field(description="Unique within the account; at most 100.")
    subject: str = strawberry.field(description=docs.SUBJECT)
    body_html: str = strawberry.field(description=docs.BODY_HTML)
    body_text: str = strawberry.field(description=docs.BODY_TEXT)
    tags: list[str] = strawberry.field(description="Labels for organising templates.")
    is_base: bool = strawberry.field(description="A base layout other templates build on.")
    created_at: datetime = strawberry.field(description="When the template was created.")
    updated_at: datetime = strawberry.field(description="When the template last changed.")

    @classmethod
    def from_model(cls, m: models.EmailTemplate) -> Self:
        return cls(
            id=strawberry.ID(encode_id("EmailTemplate", m.id)),
            name=m.name,
            code=m.code,
            subject=m.subject,
            body_html=m.body_html,
            body_text=m.body_text,
            tags=list(m.tags),
            is_base=m.is_base,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )
