"""Which campaign lead an inbound message answers.

A reply is tied, in order: by the message of ours it quotes (WhatsApp's
OriginalRepliedMessageSid: the surest), by a quick-reply id (ButtonPayload) of a campaign
whose message went to the sender, then to the latest message of a campaign sent to the
sender within the attribution window (CLARION_REPLY_ATTRIBUTION_DAYS). Only the
campaigns of the channel the message came to count, and only leads whose message went
to the sender's number: a reply on one account's channel never reaches another's lead.
Leads are looked up through the sender's contacts (db/usecases/reply_senders.py; the
contact index), so a reply costs a few rows read however large the channel's campaigns are.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ContentType, DeliveryStatus
from db.inbound_message import InboundMessage
from db.models import Campaign, Delivery, MessagingContent

# The newest leads of one number a button is looked for in (a number is rarely a lead of
# more campaigns of one channel than this).
MAX_BUTTON_CANDIDATES = 50
_QUICK_REPLY = "QUICK_REPLY"
# A lead's id, campaign, contact and its campaign's conversion payloads.
LeadRows = Select[int, int, int, list[str] | None]


@dataclass(frozen=True)
class TiedLead:
    id: int
    campaign_id: int
    contact_id: int
    conversion_payloads: tuple[str, ...]


def quick_reply_ids(content_type: ContentType, context: object) -> set[str]:
    """The ids of a content's quick-reply buttons (what a tap sends back as ButtonPayload);
    a quick-reply content's buttons may leave out their type."""
    if not isinstance(context, dict) or not isinstance(context.get("actions"), list):
        return set()
    default = _QUICK_REPLY if content_type is ContentType.QUICK_REPLY else None
    return {
        action["id"]
        for action in context["actions"]
        if isinstance(action, dict)
        and action.get("type", default) == _QUICK_REPLY
        and isinstance(action.get("id"), str)
    }


def _leads(account_id: int, channel_id: int, number: str) -> LeadRows:
    return (
        select(Delivery.id, Delivery.campaign_id, Delivery.contact_id, Campaign.conversion_payloads)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.account_id == account_id,
            Campaign.account_id == account_id,
            Campaign.twilio_channel_id == channel_id,
            Delivery.address == number,
        )
    )


def _tied(row: Any) -> TiedLead:
    payloads = row.conversion_payloads if isinstance(row.conversion_payloads, list) else []
    return TiedLead(row.id, row.campaign_id, row.contact_id, tuple(map(str, payloads)))


async def _by_button(session: AsyncSession, leads: LeadRows, payload: str) -> TiedLead | None:
    rows: Sequence[Any] = (
        await session.execute(
            leads.where(Delivery.sent_at.is_not(None))
            .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
            .limit(MAX_BUTTON_CANDIDATES)
        )
    ).all()
    if not rows:
        return None
    contents = {
        content.campaign_id: content
        for content in await session.scalars(
            select(MessagingContent).where(
                MessagingContent.campaign_id.in_({row.campaign_id for row in rows})
            )
        )
    }
    for row in rows:
        content = contents.get(row.campaign_id)
        if content and payload in quick_reply_ids(content.content_type, content.context):
            return _tied(row)
    return None


async def quoted_lead(
    session: AsyncSession, account_id: int, channel_id: int, message: InboundMessage
) -> TiedLead | None:
    """The lead whose message `message` quotes (WhatsApp's OriginalRepliedMessageSid,
    found by the message id's index): the surest tie; None when it quotes none held."""
    if not message.replied_to_sid:
        return None
    quoted = _leads(account_id, channel_id, message.number).where(
        Delivery.message_id == message.replied_to_sid
    )
    row = (await session.execute(quoted)).first()
    return _tied(row) if row is not None else None


async def sending_to_sender(
    session: AsyncSession, account_id: int, channel_id: int, message: InboundMessage
) -> bool:
    """Whether a lead of the channel to the sender is being sent: a reply quoting a
    message no lead holds yet may quote that one (a quick-reply tap can come within a
    second, before the sender records the sid)."""
    sending = _leads(account_id, channel_id, message.number).where(
        Delivery.status == DeliveryStatus.SENDING
    )
    return (await session.execute(sending.limit(1))).first() is not None


async def tied_lead(
    session: AsyncSession,
    account_id: int,
    channel_id: int,
    message: InboundMessage,
    known: Sequence[int],
    *,
    now: datetime,
    window: timedelta,
) -> TiedLead | None:
    """The lead `message` answers when it quotes none (`quoted_lead` first), or None (a
    stranger, or nothing sent in the window). `known`: the account's contacts with the
    sender's number (`known_contacts`)."""
    if not known:
        return None
    # The number's contacts' leads (by the contact index), not every lead of the channel.
    leads = _leads(account_id, channel_id, message.number).where(Delivery.contact_id.in_(known))
    if message.button_payload:
        found = await _by_button(session, leads, message.button_payload)
        if found is not None:
            return found
    row = (
        await session.execute(
            leads.where(Delivery.sent_at >= now - window)
            .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
            .limit(1)
        )
    ).first()
    return _tied(row) if row is not None else None
