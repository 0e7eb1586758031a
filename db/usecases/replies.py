"""An inbound message kept as a Reply, in one write transaction, with what it changes.

- Kept once: Twilio posts a message again when our answer was slow or lost, and the
  replies table is unique per account and MessageSid, so a repeat changes nothing.
- Tied to the lead it answers (db/usecases/reply_ties.py), its sender a contact (a
  stranger becomes one: db/usecases/reply_senders.py). One quoting a message no lead
  holds while a lead to its sender is being sent may be postponed (the sender has not
  recorded the sid yet): then nothing is changed.
- An ordinary reply makes its lead REPLIED: `replied_at` is set once, and the campaign's
  `total_replied` counted in the same transaction only when it was; later replies are
  kept and change nothing else. A tap on a quick reply the campaign names among its
  `conversion_payloads` converts the lead the same way (`converted_at`, `total_converted`).
- A consent keyword (db/opt_out_keywords.py) is not a reply: STOP withdraws the sender's
  consent for the channel's type (its unsent leads in running campaigns are opted out),
  START gives it back, HELP changes nothing; each is kept, tied like any reply.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.dialect import insert_for
from db.enums import ChannelType, ConsentSource, OptOutKeyword
from db.inbound_message import InboundMessage
from db.models import CampaignExecution, Delivery, Reply
from db.opt_out_keywords import consent_request
from db.usecases.consent import change_consent
from db.usecases.conversions import mark_converted
from db.usecases.reply_senders import known_contacts, sender_contact
from db.usecases.reply_ties import TiedLead, quoted_lead, sending_to_sender, tied_lead


@dataclass
class ReplyRecorded:
    """The reply kept (None when it was a repeat of one kept before) and the leads it
    changed, by campaign, to announce after the commit."""

    reply_id: int | None = None
    changed: dict[int, list[int]] = field(default_factory=dict)
    # Not applied: it quotes a message that may be one still being sent (`may_wait`).
    postponed: bool = False


async def _kept_before(session: AsyncSession, account_id: int, message_sid: str) -> bool:
    found = await session.scalar(
        select(Reply.id).where(Reply.account_id == account_id, Reply.message_sid == message_sid)
    )
    return found is not None


async def _first(
    session: AsyncSession,
    lead: TiedLead,
    column: InstrumentedAttribute[datetime | None],
    counter: InstrumentedAttribute[int],
    now: datetime,
) -> bool:
    """Sets the lead's `column` unless set, counting it on its execution when it was."""
    first = (
        await session.execute(
            update(Delivery)
            .where(Delivery.id == lead.id, column.is_(None))
            .values({column.key: now})
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if first is None:
        return False
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == lead.campaign_id)
        .values({counter.key: counter + 1, "updated_at": now})
        .execution_options(synchronize_session=False)
    )
    return True


async def record_reply(
    session: AsyncSession,
    account_id: int,
    channel_id: int,
    channel_type: ChannelType,
    message: InboundMessage,
    *,
    now: datetime,
    window: timedelta,
    may_wait: bool = False,
) -> ReplyRecorded:
    """Keeps `message`, received on the account's Twilio channel, and applies it; or,
    when `may_wait`, postpones one that quotes a message no lead holds while a lead to its
    sender is being sent."""
    if await _kept_before(session, account_id, message.message_sid):
        return ReplyRecorded()
    lead = await quoted_lead(session, account_id, channel_id, message)
    known: list[int] = []
    if lead is None:
        if (
            may_wait
            and message.replied_to_sid
            and await sending_to_sender(session, account_id, channel_id, message)
        ):
            return ReplyRecorded(postponed=True)
        known = await known_contacts(session, account_id, message)
        lead = await tied_lead(
            session, account_id, channel_id, message, known, now=now, window=window
        )
    contact_id = (
        lead.contact_id
        if lead is not None
        else await sender_contact(session, account_id, message, known)
    )
    request = consent_request(message, whatsapp=channel_type is ChannelType.WHATSAPP)
    reply_id = await session.scalar(
        insert_for(session, Reply)
        .values(
            account_id=account_id,
            twilio_channel_id=channel_id,
            contact_id=contact_id,
            delivery_id=lead.id if lead else None,
            message_sid=message.message_sid,
            body=message.body,
            button_payload=message.button_payload,
            button_text=message.button_text,
            media_urls=list(message.media_urls),
            opt_out=request.keyword.value if request else "",
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Reply.account_id, Reply.message_sid])
        .returning(Reply.id)
    )
    if reply_id is None:  # kept meanwhile by a concurrent post of the same message
        return ReplyRecorded()
    changed: dict[int, list[int]] = defaultdict(list)
    if lead is not None:
        changed[lead.campaign_id].append(lead.id)
    if request is None and lead is not None:
        await _first(session, lead, Delivery.replied_at, CampaignExecution.total_replied, now)
        if message.button_payload and message.button_payload in lead.conversion_payloads:
            await mark_converted(session, lead.campaign_id, lead.id, now)
    elif request is not None and request.keyword is not OptOutKeyword.HELP:
        result = await change_consent(
            session,
            account_id,
            [contact_id],
            channel_type,
            granted=request.keyword is OptOutKeyword.START,
            source=ConsentSource.KEYWORD,
            reason=request.reason,
            now=now,
            reply_id=reply_id,
        )
        for campaign_id, lead_ids in result.opted_out.items():
            changed[campaign_id].extend(lead_ids)
    return ReplyRecorded(reply_id, dict(changed))
