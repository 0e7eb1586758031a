"""Email campaigns: an email channel (SMTP), a Jinja2 template and a sender, sent to the
audience's members with email consent and an address."""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import EmailChannelStatus, SmtpSecurity
from db.errors import DomainError, ErrorCode
from db.kinds.base import COMMON_UPDATE_FIELDS, ChannelState, Recipients
from db.models import Account, Audience, Campaign, Delivery, EmailChannel, EmailTemplate
from db.queries import count_audience, materialise_ledger
from db.secrets import reveal
from db.usecases.campaigns import Sender, check_sender, resolve_sender


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: SmtpSecurity
    username: str
    # Decrypted; kept out of reprs, so no log or traceback of a config shows it.
    password: str = field(repr=False)


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    body_html: str
    body_text: str


@dataclass(frozen=True)
class EmailSettings:
    """What an email run sends, and through which server."""

    smtp: SmtpConfig
    template: TemplateSource
    sender: Sender
    utm_code: str


def email_channel_key(channel_id: int) -> str:
    return f"email:{channel_id}"


def channel_halt_reason(channel: EmailChannel) -> str:
    return (
        f"The email channel {channel.code!r} is {channel.status.value}; sending continues "
        "when it is active again."
    )


class EmailKind:
    family = "email"
    consent_column = "consent_email"
    has_leads = False
    update_fields = frozenset(
        {
            *COMMON_UPDATE_FIELDS,
            "email_channel",
            "email_template",
            "from_email",
            "from_name",
            "reply_to_email",
            "reply_to_name",
            "utm_code",
        }
    )

    async def channel(self, session: AsyncSession, campaign: Campaign) -> ChannelState | None:
        if campaign.email_channel_id is None:
            return None
        channel = await session.get(EmailChannel, campaign.email_channel_id)
        if channel is None:
            return None
        return ChannelState(
            id=channel.id,
            key=email_channel_key(channel.id),
            active=channel.status is EmailChannelStatus.ACTIVE,
            inactive_reason=channel_halt_reason(channel),
            rate_limit=channel.rate_limit,
            daily_quota=channel.daily_quota,
            tracks_engagement=channel.enable_engagement_tracking,
        )

    async def check_ready(self, session: AsyncSession, campaign: Campaign) -> None:
        channel = await self.channel(session, campaign)
        if channel is None or not channel.active:
            state = "missing" if channel is None else await _status(session, channel.id)
            raise DomainError.one(
                ErrorCode.INVALID_STATE,
                f"The campaign's email channel must be active (it is {state}).",
                "email_channel",
            )
        await check_sender(session, campaign)
        audience = await session.get_one(Audience, campaign.audience_id)
        reachable, skipped = await count_audience(session, campaign.account_id, audience.tags)
        if reachable == 0:
            raise DomainError.one(
                ErrorCode.EMPTY_AUDIENCE,
                f"Audience {audience.code!r} has no contact with an email and email consent"
                f" ({skipped} without either).",
                "audience",
            )

    async def add_recipients(
        self, session: AsyncSession, campaign: Campaign, now: datetime
    ) -> Recipients:
        """One INSERT … SELECT: a pending row per audience member with email consent."""
        audience = await session.get_one(Audience, campaign.audience_id)
        _, skipped = await count_audience(session, campaign.account_id, audience.tags)
        await session.execute(materialise_ledger(campaign.account_id, campaign.id, audience.tags))
        total = await session.scalar(
            select(func.count()).where(Delivery.campaign_id == campaign.id)
        )
        return Recipients(total or 0, skipped)

    async def snapshot(self, session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
        assert campaign.email_template_id is not None
        template = await session.get_one(EmailTemplate, campaign.email_template_id)
        channel = (
            await session.get(EmailChannel, campaign.email_channel_id)
            if campaign.email_channel_id
            else None
        )
        account = await session.get_one(Account, campaign.account_id)
        source = TemplateSource(template.subject, template.body_html, template.body_text)
        return {
            "template": asdict(source),
            "sender": asdict(resolve_sender(campaign, channel, account)),
            "utm_code": campaign.utm_code,
        }

    async def settings(
        self, session: AsyncSession, campaign: Campaign, fixed: dict[str, Any]
    ) -> EmailSettings:
        assert campaign.email_channel_id is not None
        channel = await session.get_one(EmailChannel, campaign.email_channel_id)
        return EmailSettings(
            smtp=SmtpConfig(
                host=channel.smtp_host,
                port=channel.smtp_port,
                security=channel.smtp_security,
                username=channel.smtp_username,
                password=reveal(session, channel.smtp_password),
            ),
            template=TemplateSource(**fixed["template"]),
            sender=Sender(**fixed["sender"]),
            utm_code=fixed["utm_code"],
        )

    def message_id_domain(self, settings: Any) -> str | None:
        assert isinstance(settings, EmailSettings)
        return settings.sender.from_email.rpartition("@")[2] or "clarion.invalid"

    def waits_for_triggers(self, campaign: Campaign) -> bool:
        return False  # an email campaign's recipients are its audience at start


async def _status(session: AsyncSession, channel_id: int) -> str:
    channel = await session.get_one(EmailChannel, channel_id)
    return channel.status.value
