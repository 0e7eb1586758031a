"""WhatsApp and SMS campaigns (channel family "twilio"): a Twilio channel, a content
(a Twilio content type and its context, or a template of the user's account), sent to
the campaign's active leads and, when it names an audience, to the audience's members
with a number and consent for the channel."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.dialect import insert_for
from db.enums import (
    ApprovalStatus,
    CampaignType,
    ChannelStatus,
    ChannelType,
    ContentType,
    DeliveryStatus,
)
from db.errors import DomainError, ErrorCode
from db.kinds.base import COMMON_UPDATE_FIELDS, ChannelState, Recipients
from db.models import Campaign, Contact, Delivery, MessagingContent, TwilioChannel
from db.models.base import Id
from db.queries import audience_members
from db.quota import QuotaWindow
from db.secrets import reveal
from db.twilio_variables import CONTACT_FIELDS, content_variables

# Rows written per statement (SQLite allows 32,766 bound parameters in one).
_CHUNK = 2_000


@dataclass(frozen=True)
class TwilioSettings:
    """What a WhatsApp/SMS run sends, and through which account."""

    account_sid: str
    # Decrypted; kept out of reprs, so no log or traceback of a setting shows it.
    auth_token: str = field(repr=False)
    api_base_url: str
    whatsapp: bool
    from_number: str  # E.164, "" when sending through a Messaging Service
    messaging_service_sid: str
    content_type: ContentType
    context: dict[str, Any] | None
    # The Content resource sent (HX…); "" for a plain SMS body built from `context`.
    content_sid: str
    # The variables the content uses, in order (contact fields or the lead's own).
    variables: tuple[str, ...]


def twilio_channel_key(channel_id: int) -> str:
    return f"twilio:{channel_id}"


def inactive_reason(channel: TwilioChannel) -> str:
    return (
        f"The {channel.channel_type.value} channel {channel.code!r} is "
        f"{channel.status.value}; sending continues when it is active again."
    )


def number_column(
    channel_type: ChannelType,
) -> ColumnElement[str | None] | InstrumentedAttribute[str | None]:
    """The contact's number a campaign of the type sends to: WhatsApp's own when the
    contact has one, else the phone number."""
    if channel_type is ChannelType.WHATSAPP:
        return func.coalesce(func.nullif(Contact.whatsapp, ""), Contact.phone)
    return Contact.phone


class TwilioKind:
    family = "twilio"
    has_leads = True

    def __init__(self, channel_type: ChannelType) -> None:
        self.channel_type = channel_type
        self.consent_column = f"consent_{channel_type.value}"
        self.update_fields = COMMON_UPDATE_FIELDS | {
            "content_type",
            "content_context",
            "conversion_payloads",
        }

    async def channel(self, session: AsyncSession, campaign: Campaign) -> ChannelState | None:
        if campaign.twilio_channel_id is None:
            return None
        channel = await session.get(TwilioChannel, campaign.twilio_channel_id)
        if channel is None:
            return None
        return ChannelState(
            id=channel.id,
            key=twilio_channel_key(channel.id),
            active=channel.status is ChannelStatus.ACTIVE,
            inactive_reason=inactive_reason(channel),
            rate_limit=channel.rate_limit,
            daily_quota=channel.daily_quota,
            # WhatsApp's quota is Meta's messaging limit: a moving 24 hours.
            quota_window=(
                QuotaWindow.MOVING_24H
                if self.channel_type is ChannelType.WHATSAPP
                else QuotaWindow.UTC_DAY
            ),
        )

    async def check_ready(self, session: AsyncSession, campaign: Campaign) -> None:
        channel = await self.channel(session, campaign)
        if channel is None or not channel.active:
            raise DomainError.one(
                ErrorCode.INVALID_STATE,
                "The campaign's channel must be active"
                f" ({'missing' if channel is None else channel.inactive_reason}).",
                "channel",
            )
        content = await session.get_one(MessagingContent, campaign.id)
        if self.channel_type is ChannelType.WHATSAPP and (
            content.approval_status is not ApprovalStatus.APPROVED
            or not (content.content_sid or content.created_content_sid)
        ):
            raise DomainError.one(
                ErrorCode.NOT_APPROVED,
                "A WhatsApp campaign starts only when its template is approved (it is "
                f"{content.approval_status.value}); see submitCampaignForApproval.",
                "approval_status",
            )
        leads = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.campaign_id == campaign.id, Delivery.active.is_(True))
        )
        if not leads and campaign.audience_id is None and not self.waits_for_triggers(campaign):
            raise DomainError.one(
                ErrorCode.EMPTY_AUDIENCE,
                "The campaign has no active lead and no audience.",
                "leads",
            )

    async def add_recipients(
        self, session: AsyncSession, campaign: Campaign, now: datetime
    ) -> Recipients:
        """The audience's members with a number and consent join the leads; then every
        pending lead that cannot be sent is left out and counted: its contact withdrew
        consent (opted out), or a variable the content uses has no value for it."""
        if campaign.audience_id is not None:
            await self._add_audience(session, campaign)
        content = await session.get_one(MessagingContent, campaign.id)
        needed = content_variables(content)
        skipped = await _leave_out_unsendable(session, campaign.id, self.consent_column, needed)
        total = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.campaign_id == campaign.id,
                Delivery.status == DeliveryStatus.PENDING,
            )
        )
        return Recipients(total or 0, skipped)

    async def leave_out(self, session: AsyncSession, campaign: Campaign, ids: Sequence[int]) -> int:
        """Leads added to a started campaign: those of `ids` that start would have left out
        (no consent, a variable without a value) are, now; returns how many."""
        content = await session.get_one(MessagingContent, campaign.id)
        needed = content_variables(content)
        skipped = 0
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            skipped += await _leave_out_unsendable(
                session, campaign.id, self.consent_column, needed, chunk
            )
        return skipped

    async def _add_audience(self, session: AsyncSession, campaign: Campaign) -> None:
        from db.models import Audience

        audience = await session.get_one(Audience, campaign.audience_id)
        number = number_column(self.channel_type)
        # One message a number: of members sharing one (a WhatsApp number is not unique
        # among contacts) the oldest, and none whose number a lead already goes to.
        first_of_number = (
            select(func.min(Contact.id))
            .where(
                Contact.account_id == campaign.account_id,
                getattr(Contact, self.consent_column).is_(True),
                number != "",
                Contact.id.in_(audience_members(campaign.account_id, audience.tags)),
            )
            .group_by(number)
        )
        taken = select(Delivery.address).where(Delivery.campaign_id == campaign.id)
        members = select(
            Contact.account_id,
            literal(campaign.id, Id).label("campaign_id"),
            Contact.id,
            number,
            literal(DeliveryStatus.PENDING.value).label("status"),
            literal(True).label("active"),
        ).where(Contact.id.in_(first_of_number), number.notin_(taken))
        await session.execute(
            insert_for(session, Delivery)
            .from_select(
                ["account_id", "campaign_id", "contact_id", "address", "status", "active"],
                members,
            )
            .on_conflict_do_nothing(index_elements=["campaign_id", "contact_id", "trigger_key"])
        )

    async def snapshot(self, session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
        content = await session.get_one(MessagingContent, campaign.id)
        return {
            "content_type": content.content_type.value,
            "context": content.context,
            "content_sid": content.content_sid or content.created_content_sid,
            "variables": list(content_variables(content)),
        }

    async def settings(
        self, session: AsyncSession, campaign: Campaign, fixed: dict[str, Any]
    ) -> TwilioSettings:
        assert campaign.twilio_channel_id is not None
        channel = await session.get_one(TwilioChannel, campaign.twilio_channel_id)
        return TwilioSettings(
            account_sid=channel.account_sid,
            auth_token=reveal(session, channel.auth_token),
            api_base_url=channel.api_base_url,
            whatsapp=self.channel_type is ChannelType.WHATSAPP,
            from_number=channel.from_number or "",
            messaging_service_sid=channel.messaging_service_sid or "",
            content_type=ContentType(fixed["content_type"]),
            context=fixed["context"],
            content_sid=fixed["content_sid"],
            variables=tuple(fixed["variables"]),
        )

    def message_id_domain(self, settings: Any) -> str | None:
        return None  # Twilio names each message (its MessageSid)

    def waits_for_triggers(self, campaign: Campaign) -> bool:
        # A service campaign's leads come from triggerServiceMessage while it runs.
        return campaign.campaign_type is CampaignType.SERVICE


async def _leave_out_unsendable(
    session: AsyncSession,
    campaign_id: int,
    consent_column: str,
    needed: tuple[str, ...],
    only: Sequence[int] | None = None,
) -> int:
    """Marks pending leads (of `only`, when given) that cannot be sent; returns how many."""
    pending = and_(
        Delivery.campaign_id == campaign_id,
        Delivery.status == DeliveryStatus.PENDING,
        Delivery.active.is_(True),
        Delivery.id.in_(list(only)) if only is not None else true(),
    )
    no_consent = select(Contact.id).where(getattr(Contact, consent_column).is_(False))
    opted = await session.execute(
        update(Delivery)
        .where(pending, Delivery.contact_id.in_(no_consent.scalar_subquery()))
        .values(
            status=DeliveryStatus.OPTED_OUT,
            error_message="The contact withdrew consent for the channel before the start.",
        )
        .execution_options(synchronize_session=False)
    )
    skipped = int(getattr(opted, "rowcount", 0) or 0)
    if not needed:
        return skipped
    fields = [getattr(Contact, name) for name in CONTACT_FIELDS]
    rows = await session.execute(
        select(Delivery.id, Delivery.variables, *fields)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(pending)
    )
    missing: dict[str, list[int]] = {}  # reason -> rows
    for row in rows:
        own = row.variables or {}
        values = {name: getattr(row, name) or "" for name in CONTACT_FIELDS} | own
        lacking = [name for name in needed if not str(values.get(name, "")).strip()]
        if lacking:
            missing.setdefault(", ".join(lacking), []).append(row.id)
    for lacking_names, ids in missing.items():
        for start in range(0, len(ids), _CHUNK):
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids[start : start + _CHUNK]))
                .values(
                    status=DeliveryStatus.CANCELLED,
                    error_message=f"No value for the variable(s) {lacking_names}.",
                )
                .execution_options(synchronize_session=False)
            )
    return skipped + sum(len(ids) for ids in missing.values())
