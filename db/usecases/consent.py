"""A contact's consent for a channel: changed in one place, every change recorded.

Withdrawing it also takes the contact's unsent leads out of its channel's running and
paused campaigns (they become opted out and are never sent); campaigns started later
leave the contact out when they make their rows. Giving it back changes no ledger row:
a lead once opted out stays so, and the next campaign includes the contact again.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.clock import db_now
from db.enums import CampaignStatus, ChannelType, ConsentSource, DeliveryStatus
from db.models import Campaign, CampaignExecution, ConsentChange, Contact, Delivery

# Campaigns in a run: their pending leads are sent unless taken out now.
_IN_A_RUN = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)


def consent_column(channel: ChannelType) -> str:
    return f"consent_{channel.value}"


_CHANNEL_OF = {consent_column(channel): channel for channel in ChannelType}
# Contacts per change_consent call of a bulk change (SQLite's bound parameters).
_CHUNK = 1_000


def split_consent(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[ChannelType, bool]]:
    """A contact's fields apart from its consent flags (`consent_<channel>`), and those."""
    rest = {name: value for name, value in fields.items() if name not in _CHANNEL_OF}
    consent = {_CHANNEL_OF[name]: bool(v) for name, v in fields.items() if name in _CHANNEL_OF}
    return rest, consent


async def record_api_consent(
    session: AsyncSession,
    account_id: int,
    wanted: Mapping[tuple[ChannelType, bool], Sequence[int]],
    mutation: str,
) -> None:
    """Consent a user set through the API (`mutation` names how): the contacts of each
    (channel, granted) get it through change_consent, recorded where it changed."""
    now = await db_now(session)
    for (channel, granted), contact_ids in wanted.items():
        for start in range(0, len(contact_ids), _CHUNK):
            await change_consent(
                session,
                account_id,
                contact_ids[start : start + _CHUNK],
                channel,
                granted=granted,
                source=ConsentSource.API,
                reason=f"{'Given' if granted else 'Withdrawn'} through the API ({mutation})",
                now=now,
            )


@dataclass
class ConsentChanged:
    """What a change did: the contacts whose consent changed (the others already had it
    that way), and the leads it opted out, by campaign."""

    contact_ids: list[int] = field(default_factory=list)
    opted_out: dict[int, list[int]] = field(default_factory=dict)


async def change_consent(
    session: AsyncSession,
    account_id: int,
    contact_ids: Sequence[int],
    channel: ChannelType,
    *,
    granted: bool,
    source: ConsentSource,
    reason: str,
    now: datetime,
    reply_id: int | None = None,
    delivery_id: int | None = None,
    delivery_ids: Mapping[int, int] | None = None,
) -> ConsentChanged:
    """Sets the contacts' consent for `channel` to `granted`, recording why for each one
    whose consent changed; a withdrawal opts out their unsent leads in running campaigns.

    The lead that caused it: `delivery_id` for all of them, or `delivery_ids` per contact
    (contact id to delivery id; a bulk change where each contact has its own, e.g. the
    rows a provider refused with 21610)."""
    column = getattr(Contact, consent_column(channel))
    changing = list(
        (
            await session.execute(
                select(Contact.id)
                .where(
                    Contact.account_id == account_id,
                    Contact.id.in_(sorted(set(contact_ids))),
                    column.is_not(granted),
                )
                .order_by(Contact.id)
                .with_for_update()
            )
        ).scalars()
    )
    changed = ConsentChanged(contact_ids=changing)
    if not changing:
        return changed
    await session.execute(
        update(Contact)
        .where(Contact.id.in_(changing))
        .values({consent_column(channel): granted, "updated_at": now})
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        insert(ConsentChange),
        [
            {
                "account_id": account_id,
                "contact_id": contact_id,
                "channel_type": channel,
                "granted": granted,
                "source": source,
                "reason": reason[:255],
                "reply_id": reply_id,
                "delivery_id": (delivery_ids or {}).get(contact_id, delivery_id),
                "created_at": now,
            }
            for contact_id in changing
        ],
    )
    if not granted:
        changed.opted_out = await _opt_out_unsent_leads(
            session, account_id, changing, channel, reason, now
        )
    return changed


async def _opt_out_unsent_leads(
    session: AsyncSession,
    account_id: int,
    contact_ids: list[int],
    channel: ChannelType,
    reason: str,
    now: datetime,
) -> dict[int, list[int]]:
    """Pending leads of the contacts in the channel's running campaigns become opted out
    (a row being sent right now is the engine's: it checks consent again before sending)."""
    in_a_run = select(Campaign.id).where(
        Campaign.account_id == account_id,
        Campaign.channel_type == channel,
        Campaign.status.in_(_IN_A_RUN),
    )
    rows = (
        await session.execute(
            update(Delivery)
            .where(
                Delivery.contact_id.in_(contact_ids),
                Delivery.campaign_id.in_(in_a_run.scalar_subquery()),
                Delivery.status == DeliveryStatus.PENDING,
            )
            .values(
                status=DeliveryStatus.OPTED_OUT,
                error_message=f"The contact withdrew consent: {reason}"[:2000],
                retry_at=None,
            )
            .returning(Delivery.campaign_id, Delivery.id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    by_campaign: dict[int, list[int]] = defaultdict(list)
    for campaign_id, lead_id in rows:
        by_campaign[campaign_id].append(lead_id)
    for campaign_id, lead_ids in by_campaign.items():
        await session.execute(
            update(CampaignExecution)
            .where(CampaignExecution.campaign_id == campaign_id)
            .values(total_skipped=CampaignExecution.total_skipped + len(lead_ids), updated_at=now)
        )
    return dict(by_campaign)
