"""Twilio channel mutations."""

import strawberry
from strawberry.types.unset import UNSET

from db.usecases import twilio_channels as uc
from graph.context import Info
from graph.enums import ChannelStatus, ChannelType
from graph.errors import UserError
from graph.mutations.support import DeletePayload, pk, provided, write
from graph.types.twilio_channel import TwilioChannel

# A null rate limit means "no limit", a null sender "not this one"; null elsewhere means
# "leave as is".
_NULLABLE = frozenset({"rate_limit", "from_number", "messaging_service_sid"})

CODE = "Unique among the account's Twilio channels; letters, digits, - and _; at most 50."
TYPE = "WHATSAPP or SMS (EMAIL is refused: INVALID)."
ACCOUNT_SID = "The Twilio account SID: AC and 32 lowercase hex digits (INVALID)."
AUTH_TOKEN = (
    "The account's auth token: 1 to 255 printable ASCII characters without spaces "
    "(INVALID / TOO_LONG). Stored encrypted, never returned."
)
FROM_NUMBER = (
    "The sender's number in international form (+14155550123; spaces, dots, dashes and "
    'parentheses are dropped), without a "whatsapp:" prefix; a valid number '
    "(phonenumbers), at most 32 characters (INVALID / TOO_LONG). Exactly one of "
    "fromNumber and messagingServiceSid."
)
SERVICE = (
    "A Messaging Service to send from: MG and 32 lowercase hex digits (INVALID). Exactly "
    "one of fromNumber and messagingServiceSid."
)
RATE = (
    "Messages per second across all workers (SMS: segments), 1..10,000 (OUT_OF_RANGE); "
    "null for no limit."
)
QUOTA = (
    "WhatsApp: Meta's messaging limit (unique recipients in a moving 24 hours); SMS: "
    "messages per day (UTC). 1..100,000,000 (OUT_OF_RANGE)."
)
BASE_URL = (
    "Where Twilio's API hosts (api, content, messaging.twilio.com) are sent: an absolute "
    "http(s) URL with an optional plain path prefix, without credentials, query or "
    "fragment; https unless the host is loopback (localhost, 127.0.0.0/8, ::1); at most "
    "255 characters (INVALID / TOO_LONG)."
)


@strawberry.input(description="Create a Twilio channel: a Twilio account, a sender, limits.")
class CreateTwilioChannelInput:
    code: str = strawberry.field(description=CODE)
    channel_type: ChannelType = strawberry.field(description=TYPE)
    account_sid: str = strawberry.field(description=ACCOUNT_SID)
    auth_token: str = strawberry.field(description=AUTH_TOKEN)
    from_number: str | None = strawberry.field(default=None, description=FROM_NUMBER)
    messaging_service_sid: str | None = strawberry.field(default=None, description=SERVICE)
    rate_limit: int | None = strawberry.field(
        default=UNSET, description=f"{RATE} Default: WHATSAPP 10, SMS 1 (a US long code)."
    )
    daily_quota: int | None = strawberry.field(
        default=UNSET,
        description=f"{QUOTA} Default: WHATSAPP 250 (Meta's first tier), SMS 1000.",
    )
    status: ChannelStatus = strawberry.field(
        default=ChannelStatus.ACTIVE, description="Default active."
    )
    api_base_url: str = strawberry.field(
        default="https://api.twilio.com", description=f"{BASE_URL} Default Twilio's."
    )


@strawberry.input(description="Change a Twilio channel; fields left out keep their value.")
class UpdateTwilioChannelInput:
    id: strawberry.ID = strawberry.field(description="The channel's global ID.")
    code: str | None = strawberry.field(default=UNSET, description=CODE)
    channel_type: ChannelType | None = strawberry.field(default=UNSET, description=TYPE)
    account_sid: str | None = strawberry.field(default=UNSET, description=ACCOUNT_SID)
    auth_token: str | None = strawberry.field(
        default=UNSET, description=f"{AUTH_TOKEN} Left out, the stored one is kept."
    )
    from_number: str | None = strawberry.field(
        default=UNSET, description=f"{FROM_NUMBER} Null clears it."
    )
    messaging_service_sid: str | None = strawberry.field(
        default=UNSET, description=f"{SERVICE} Null clears it."
    )
    rate_limit: int | None = strawberry.field(default=UNSET, description=RATE)
    daily_quota: int | None = strawberry.field(default=UNSET, description=QUOTA)
    status: ChannelStatus | None = strawberry.field(default=UNSET, description="Status.")
    api_base_url: str | None = strawberry.field(default=UNSET, description=BASE_URL)


@strawberry.input(description="Delete a Twilio channel no campaign uses.")
class DeleteTwilioChannelInput:
    id: strawberry.ID = strawberry.field(description="The channel's global ID.")


@strawberry.type(description="Result of createTwilioChannel / updateTwilioChannel.")
class TwilioChannelPayload:
    twilio_channel: TwilioChannel | None = strawberry.field(
        default=None, description="Null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )


@strawberry.type(description="Result of createTwilioChannel.")
class CreateTwilioChannelPayload(TwilioChannelPayload):
    pass


@strawberry.type(description="Result of updateTwilioChannel.")
class UpdateTwilioChannelPayload(TwilioChannelPayload):
    pass


@strawberry.type(description="Result of deleteTwilioChannel.")
class DeleteTwilioChannelPayload(DeletePayload):
    pass


@strawberry.type
class TwilioChannelMutations:
    @strawberry.mutation(description="Create a Twilio channel (WhatsApp or SMS).")
    async def create_twilio_channel(
        self, info: Info, input: CreateTwilioChannelInput
    ) -> CreateTwilioChannelPayload:
        fields = provided(input, nullable=_NULLABLE)
        result = await write(info, lambda s, a: uc.create_twilio_channel(s, a, fields))
        if isinstance(result, list):
            return CreateTwilioChannelPayload(user_errors=result)
        return CreateTwilioChannelPayload(twilio_channel=TwilioChannel.from_model(result))

    @strawberry.mutation(description="Change a Twilio channel.")
    async def update_twilio_channel(
        self, info: Info, input: UpdateTwilioChannelInput
    ) -> UpdateTwilioChannelPayload:
        fields = provided(input, nullable=_NULLABLE)
        result = await write(
            info,
            lambda s, a: uc.update_twilio_channel(s, a, pk(input.id, "TwilioChannel"), fields),
        )
        if isinstance(result, list):
            return UpdateTwilioChannelPayload(user_errors=result)
        return UpdateTwilioChannelPayload(twilio_channel=TwilioChannel.from_model(result))

    @strawberry.mutation(description="Delete a Twilio channel; refused while campaigns use it.")
    async def delete_twilio_channel(
        self, info: Info, input: DeleteTwilioChannelInput
    ) -> DeleteTwilioChannelPayload:
        result = await write(
            info, lambda s, a: uc.delete_twilio_channel(s, a, pk(input.id, "TwilioChannel"))
        )
        if isinstance(result, list):
            return DeleteTwilioChannelPayload(user_errors=result)
        return DeleteTwilioChannelPayload(deleted_id=input.id)
