"""All models, imported here so `Base.metadata` is complete wherever it is used."""

from db.models.account import Account, ApiKey
from db.models.audience import Audience
from db.models.base import Base
from db.models.campaign import Campaign, CampaignExecution
from db.models.channel_usage import ChannelUsage
from db.models.consent_change import ConsentChange
from db.models.contact import Contact, ContactTag
from db.models.delivery import Delivery
from db.models.early_status import EarlyStatus
from db.models.email_channel import EmailChannel
from db.models.email_template import EmailTemplate
from db.models.ltv import LtvEntry
from db.models.messaging import MessagingContent
from db.models.reply import Reply
from db.models.server_secret import ServerSecret
from db.models.twilio_channel import TwilioChannel

__all__ = [
    "Account",
    "ApiKey",
    "Audience",
    "Base",
    "Campaign",
    "CampaignExecution",
    "ChannelUsage",
    "ConsentChange",
    "Contact",
    "ContactTag",
    "Delivery",
    "EarlyStatus",
    "EmailChannel",
    "EmailTemplate",
    "LtvEntry",
    "MessagingContent",
    "Reply",
    "ServerSecret",
    "TwilioChannel",
]
