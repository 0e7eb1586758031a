"""The channel families a worker process sends through, made at its start-up."""

from arq.connections import ArqRedis

from db.engine import Database
from db.settings import Settings
from jobs.channels.email.render_pool import WORKER_RENDER_PROCESSES, RenderPool
from jobs.channels.email.smtp import SmtpPools
from jobs.channels.email.transport import EmailFamily
from jobs.channels.registry import Families
from jobs.channels.twilio.transport import TwilioFamily


def channel_families(
    db: Database, settings: Settings, signing_key: bytes, redis: ArqRedis | None = None
) -> Families:
    sending = settings.sending
    email = EmailFamily(
        db,
        SmtpPools(sending.smtp_pool_size, sending.smtp_allowed_hosts),
        RenderPool(WORKER_RENDER_PROCESSES),
        settings.public_url,
        signing_key,
    )
    twilio = TwilioFamily(db, settings.public_url, redis, sending)
    return Families({"email": email, "twilio": twilio})
