from datetime import datetime
from typing import Self

import strawberry

from db import models
from db.settings import Settings
from graph.context import Info
from graph.enums import ChannelStatus, ChannelType
from graph.ids import encode_id
from graph.types.node import Node
from jobs.channels.twilio.hook_urls import INBOUND_PATH, STATUS_CALLBACK_PATH, hook_url


def _public_url(info: Info) -> str:
    settings: Settings = info.context.request.state.settings
    return settings.public_url


@strawberry.type(
    description="WhatsApp or SMS over Twilio (or a Twilio-compatible endpoint): the "
    "account, the sender and the limits."
)
class TwilioChannel(Node):
    pk: strawberry.Private[int]
    code: str = strawberry.field(
        description="Unique among the account's Twilio channels, lowercased; letters, "
        "digits, - and _; at most 50."
    )
    channel_type: ChannelType = strawberry.field(description="WHATSAPP or SMS.")
    status: ChannelStatus = strawberry.field(description="Only active channels send.")
    account_sid: str = strawberry.field(description="The Twilio account SID (AC + 32 hex).")
    has_auth_token: bool = strawberry.field(
        description="Whether an auth token is stored (encrypted; it is never returned)."
    )
    from_number: str | None = strawberry.field(
        description="The sender's number in E.164 (+14155550123; WhatsApp adds the "
        '"whatsapp:" prefix when sending); null when a Messaging Service sends.'
    )
    messaging_service_sid: str | None = strawberry.field(
        description="The Messaging Service that sends (MG + 32 hex); null when fromNumber does."
    )
    rate_limit: int | None = strawberry.field(
        description="Messages per second at most, across all workers (SMS: segments of 153 "
        "GSM-7 or 67 UCS-2 characters); 1..10,000; null means no limit."
    )
    daily_quota: int = strawberry.field(
        description="WhatsApp: Meta's messaging limit, unique recipients of business-initiated "
        "messages in a moving 24 hours (tiers 250, 2,000, 10,000, 100,000), counted in "
        "hourly buckets and in messages (never fewer than Meta counts); SMS: messages per "
        "day (UTC). 1..100,000,000."
    )
    api_base_url: str = strawberry.field(
        description="Where Twilio's API hosts are sent (https://api.twilio.com, or a "
        "Twilio-compatible endpoint), without a final slash."
    )
    created_at: datetime = strawberry.field(description="When the channel was created.")
    updated_at: datetime = strawberry.field(description="When the channel last changed.")

    @strawberry.field(
        description="The URL Twilio is to post message status callbacks to "
        f"(CLARION_PUBLIC_URL + {STATUS_CALLBACK_PATH}, naming the channel); every message "
        "asks for it, so there is nothing to set in Twilio."
    )
    def status_callback_url(self, info: Info) -> str:
        return hook_url(_public_url(info), STATUS_CALLBACK_PATH, self.pk)

    @strawberry.field(
        description="The URL to set as the sender's incoming-message webhook in Twilio "
        f"(CLARION_PUBLIC_URL + {INBOUND_PATH}, naming the channel): replies and opt-outs "
        "come there."
    )
    def inbound_url(self, info: Info) -> str:
        return hook_url(_public_url(info), INBOUND_PATH, self.pk)

    @classmethod
    def from_model(cls, m: models.TwilioChannel) -> Self:
        return cls(
            id=strawberry.ID(encode_id("TwilioChannel", m.id)),
            pk=m.id,
            code=m.code,
            channel_type=ChannelType(m.channel_type.value),
            status=m.status,
            account_sid=m.account_sid,
            has_auth_token=bool(m.auth_token),
            from_number=m.from_number,
            messaging_service_sid=m.messaging_service_sid,
            rate_limit=m.rate_limit,
            daily_quota=m.daily_quota,
            api_base_url=m.api_base_url,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )
