"""POST /hooks/twilio/inbound?channel=<id>: messages people send to a channel's number
(Twilio's "A message comes in" webhook; the channel shows the URL as `inboundUrl`).

Signed by Twilio with the channel's auth token, or refused with 403 before anything is
read. The message is kept and applied in one transaction (db/usecases/replies.py); the
leads it changed are announced after the commit. The answer is empty TwiML (Clarion sends
no automatic reply; Twilio sends its own to SMS keywords), also for a repeat of a message
already kept and for one Clarion cannot keep (no MessageSid, or a sender without an E.164
number such as a short code): Twilio would only post it again.
"""

import logging
from datetime import timedelta

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from db.clock import db_now
from db.engine import Database
from db.enums import ChannelType
from db.inbound_message import read_inbound
from db.settings import Settings
from db.usecases.replies import record_reply
from graph.hooks.twilio_request import Forbidden, empty_twiml, forbidden, verified_hook
from jobs.lead_events import announce

log = logging.getLogger(__name__)


async def inbound_hook(request: Request) -> Response:
    try:
        hook = await verified_hook(request)
    except Forbidden:
        return forbidden()
    message = read_inbound(hook.params)
    if message is None:
        return empty_twiml()
    db: Database = request.state.db
    settings: Settings = request.state.settings
    async with db.write() as session:
        recorded = await record_reply(
            session,
            hook.account_id,
            hook.channel_id,
            ChannelType(hook.channel_type.value),
            message,
            now=await db_now(session),
            window=timedelta(days=settings.reply_attribution_days),
        )
    try:
        await announce(db, request.state.queue, hook.account_id, recorded.changed)
    except (RedisError, OSError):  # the reply is kept; subscribers catch up on their next read
        log.warning("Could not announce the leads a reply changed", exc_info=True)
    return empty_twiml()
