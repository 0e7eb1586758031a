"""Email channel mutations."""

import strawberry
from strawberry.types.unset import UNSET

from db.settings import Settings
from db.smtp_hosts import HostPolicy
from db.usecases import email_channels as uc
from graph.context import Info
from graph.enums import EmailChannelStatus, EmailChannelType, SmtpSecurity
from graph.errors import UserError
from graph.limits_text import ADDRESS, NAME
from graph.mutations.support import DeletePayload, pk, provided, write
from graph.types.email_channel import EmailChannel

# A null rate limit means "no limit"; null elsewhere means "leave as is".
_NULLABLE = frozenset({"rate_limit"})


@strawberry.input(description="Create an email channel: an SMTP server and its limits.")
class CreateEmailChannelInput:
    code: str = strawberry.field(description="Unique; letters, digits, - and _; at most 50.")
    channel_type: EmailChannelType = strawberry.field(description="What it is for.")
    smtp_host: str = strawberry.field(
        description="SMTP server host name; the server may restrict which "
        f"(HOST_NOT_ALLOWED). {NAME}"
    )
    smtp_port: int = strawberry.field(default=587, description="1..65535; default 587.")
    smtp_security: SmtpSecurity = strawberry.field(
        default=SmtpSecurity.STARTTLS, description="Default starttls."
    )
    smtp_username: str = strawberry.field(
        default="", description=f"SMTP login; empty for none. {NAME}"
    )
    smtp_password: str = strawberry.field(
        default="", description=f"Stored encrypted, never returned. {NAME}"
    )
    status: EmailChannelStatus = strawberry.field(
        default=EmailChannelStatus.ACTIVE, description="Default active."
    )
    daily_quota: int = strawberry.field(default=1000, description="1..100,000,000; default 1000.")
    rate_limit: int | None = strawberry.field(
        default=10, description="Messages per second, 1..10,000; null for no limit; default 10."
    )
    enable_engagement_tracking: bool = strawberry.field(
        default=False, description="Track opens and clicks."
    )
    default_from_email: str = strawberry.field(
        default="", description=f"Default From address. {ADDRESS}"
    )
    default_from_name: str = strawberry.field(
        default="", description=f"Default From display name. {NAME}"
    )
    default_reply_to_email: str = strawberry.field(
        default="", description=f"Default Reply-To address. {ADDRESS}"
    )
    default_reply_to_name: str = strawberry.field(
        default="", description=f"Default Reply-To display name. {NAME}"
    )


@strawberry.input(description="Change an email channel; fields left out keep their value.")
class UpdateEmailChannelInput:
    id: strawberry.ID = strawberry.field(description="The channel's global ID.")
    code: str | None = strawberry.field(default=UNSET, description="Unique code; at most 50.")
    channel_type: EmailChannelType | None = strawberry.field(default=UNSET, description="Type.")
    smtp_host: str | None = strawberry.field(default=UNSET, description=f"SMTP host. {NAME}")
    smtp_port: int | None = strawberry.field(default=UNSET, description="1..65535.")
    smtp_security: SmtpSecurity | None = strawberry.field(default=UNSET, description="TLS mode.")
    smtp_username: str | None = strawberry.field(default=UNSET, description=f"SMTP login. {NAME}")
    smtp_password: str | None = strawberry.field(
        default=UNSET, description=f"SMTP password. {NAME}"
    )
    status: EmailChannelStatus | None = strawberry.field(default=UNSET, description="Status.")
    daily_quota: int | None = strawberry.field(default=UNSET, description="1..100,000,000.")
    rate_limit: int | None = strawberry.field(
        default=UNSET, description="1..10,000 per second; null removes the limit."
    )
    enable_engagement_tracking: bool | None = strawberry.field(
        default=UNSET, description="Track opens and clicks."
    )
    default_from_email: str | None = strawberry.field(
        default=UNSET, description=f"Default From address. {ADDRESS}"
    )
    default_from_name: str | None = strawberry.field(
        default=UNSET, description=f"Default From display name. {NAME}"
    )
    default_reply_to_email: str | None = strawberry.field(
        default=UNSET, description=f"Default Reply-To address. {ADDRESS}"
    )
    default_reply_to_name: str | None = strawberry.field(
        default=UNSET, description=f"Default Reply-To display name. {NAME}"
    )


@strawberry.input(description="Delete an email channel no campaign uses.")
class DeleteEmailChannelInput:
    id: strawberry.ID = strawberry.field(description="The channel's global ID.")


@strawberry.type(description="Result of createEmailChannel / updateEmailChannel.")
class EmailChannelPayload:
    email_channel: EmailChannel | None = strawberry.field(
        default=None, description="Null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="Result of createEmailChannel.")
class CreateEmailChannelPayload(EmailChannelPayload):
    pass


@strawberry.type(description="Result of updateEmailChannel.")
class UpdateEmailChannelPayload(EmailChannelPayload):
    pass


@strawberry.type(description="Result of deleteEmailChannel.")
class DeleteEmailChannelPayload(DeletePayload):
    pass


def allowed_hosts(info: Info) -> HostPolicy:
    """The operator's CLARION_SMTP_ALLOWED_HOSTS (the app's settings, in its state)."""
    settings: Settings = info.context.request.state.settings
    return settings.sending.smtp_allowed_hosts


@strawberry.type
class EmailChannelMutations:
    @strawberry.mutation(description="Create an email channel.")
    async def create_email_channel(
        self, info: Info, input: CreateEmailChannelInput
    ) -> CreateEmailChannelPayload:
        fields = provided(input, nullable=_NULLABLE)
        hosts = allowed_hosts(info)
        result = await write(info, lambda s, a: uc.create_email_channel(s, a, fields, hosts))
        if isinstance(result, list):
            return CreateEmailChannelPayload(user_errors=result)
        return CreateEmailChannelPayload(email_channel=EmailChannel.from_model(result))

    @strawberry.mutation(description="Change an email channel.")
    async def update_email_channel(
        self, info: Info, input: UpdateEmailChannelInput
    ) -> UpdateEmailChannelPayload:
        fields = provided(input, nullable=_NULLABLE)
        hosts = allowed_hosts(info)
        result = await write(
            info,
            lambda s, a: uc.update_email_channel(s, a, pk(input.id, "EmailChannel"), fields, hosts),
        )
        if isinstance(result, list):
            return UpdateEmailChannelPayload(user_errors=result)
        return UpdateEmailChannelPayload(email_channel=EmailChannel.from_model(result))

    @strawberry.mutation(description="Delete an email channel; refused while campaigns use it.")
    async def delete_email_channel(
        self, info: Info, input: DeleteEmailChannelInput
    ) -> DeleteEmailChannelPayload:
        result = await write(
            info, lambda s, a: uc.delete_email_channel(s, a, pk(input.id, "EmailChannel"))
        )
        if isinstance(result, list):
            return DeleteEmailChannelPayload(user_errors=result)
        return DeleteEmailChannelPayload(deleted_id=input.id)
