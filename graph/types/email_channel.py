from datetime import datetime
from typing import Self

import strawberry

from db import models
from graph.enums import EmailChannelStatus, EmailChannelType, SmtpSecurity
from graph.ids import encode_id
from graph.types.node import Node


@strawberry.type(description="Where and how fast email is sent: an SMTP server and its limits.")
class EmailChannel(Node):
    code: str = strawberry.field(
        description="Unique, lowercased; letters, digits, - and _; at most 50."
    )
    channel_type: EmailChannelType = strawberry.field(description="What the channel is for.")
    status: EmailChannelStatus = strawberry.field(description="Only active channels send.")
    daily_quota: int = strawberry.field(
        description="Messages per day (UTC) at most; reaching it halts a campaign until the "
        "next day. 1..100,000,000; default 1000."
    )
    rate_limit: int | None = strawberry.field(
        description="Messages per second at most, across all workers; 1..10,000, default 10; "
        "null means no limit."
    )
    enable_engagement_tracking: bool = strawberry.field(
        description="Track opens and clicks; when off, executions report them as null."
    )
    smtp_host: str = strawberry.field(description="SMTP server host name.")
    smtp_port: int = strawberry.field(description="SMTP server port, 1..65535.")
    smtp_security: SmtpSecurity = strawberry.field(description="Connection protection.")
    smtp_username: str = strawberry.field(description="SMTP login; empty for none.")
    has_smtp_password: bool = strawberry.field(
        description="Whether a password is stored (it is never returned)."
    )
    default_from_email: str = strawberry.field(description="From address for its campaigns.")
    default_from_name: str = strawberry.field(description="From name for its campaigns.")
    default_reply_to_email: str = strawberry.field(description="Reply-to for its campaigns.")
    default_reply_to_name: str = strawberry.field(description="Reply-to name for its campaigns.")
    created_at: datetime = strawberry.field(description="When the channel was created.")
    updated_at: datetime = strawberry.field(description="When the channel last changed.")

    @classmethod
    def from_model(cls, m: models.EmailChannel) -> Self:
        return cls(
            id=strawberry.ID(encode_id("EmailChannel", m.id)),
            code=m.code,
            channel_type=m.channel_type,
            status=m.status,
            daily_quota=m.daily_quota,
            rate_limit=m.rate_limit,
            enable_engagement_tracking=m.enable_engagement_tracking,
            smtp_host=m.smtp_host,
            smtp_port=m.smtp_port,
            smtp_security=m.smtp_security,
            smtp_username=m.smtp_username,
            has_smtp_password=bool(m.smtp_password),
            default_from_email=m.default_from_email,
            default_from_name=m.default_from_name,
            default_reply_to_email=m.default_reply_to_email,
            default_reply_to_name=m.default_reply_to_name,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )
