"""The one place where a campaign's kind decides its channel, recipients and content:
`kind_of(campaign)`. A new channel family adds a module here and an entry below."""

from db.enums import ChannelType
from db.kinds.base import CampaignKind, ChannelState, Recipients
from db.kinds.email import EmailKind
from db.kinds.twilio import TwilioKind
from db.models import Campaign

_KINDS: dict[ChannelType, CampaignKind] = {
    ChannelType.EMAIL: EmailKind(),
    ChannelType.WHATSAPP: TwilioKind(ChannelType.WHATSAPP),
    ChannelType.SMS: TwilioKind(ChannelType.SMS),
}


def kind_of(campaign: Campaign) -> CampaignKind:
    return _KINDS[campaign.channel_type]


__all__ = ["CampaignKind", "ChannelState", "Recipients", "kind_of"]
