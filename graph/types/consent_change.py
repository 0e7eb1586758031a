"""A contact's consent history: each change of its consent for a channel, newest first."""

from datetime import datetime
from typing import Self

import strawberry
from sqlalchemy import select

from db import models
from graph.context import Info
from graph.enums import ChannelType, ConsentSource
from graph.pagination import Connection, paginate


@strawberry.type(
    description="One change of a contact's consent for a channel: which way, when and why."
)
class ConsentChange:
    channel: ChannelType = strawberry.field(description="The channel whose consent changed.")
    granted: bool = strawberry.field(
        description="True: consent given (back); false: withdrawn (campaigns of the channel "
        "leave the contact out, and its unsent leads in running ones are opted out)."
    )
    source: ConsentSource = strawberry.field(description="What changed it.")
    reason: str = strawberry.field(
        description="In words, at most 255 characters: the keyword texted, the provider's "
        "error, the mutation."
    )
    at: datetime = strawberry.field(description="When it changed (the database's clock).")

    @classmethod
    def from_model(cls, m: models.ConsentChange) -> Self:
        return cls(
            channel=m.channel_type,
            granted=m.granted,
            source=m.source,
            reason=m.reason,
            at=m.created_at,
        )


async def consent_changes(
    contact_id: int,
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[ConsentChange]:
    """The contact's consent changes, newest first (only changes: a request that left
    consent as it was is not one)."""
    stmt = select(models.ConsentChange).where(
        models.ConsentChange.contact_id == contact_id,
        models.ConsentChange.account_id == info.context.account_id,
    )
    return await paginate(
        info.context.db,
        stmt,
        models.ConsentChange.id,
        ConsentChange.from_model,
        first=first,
        after=after,
        last=last,
        before=before,
    )
