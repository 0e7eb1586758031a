"""POST /hooks/twilio/inbound?channel=<id>: messages people send to a channel's number
(Twilio's "A message comes in" webhook; the channel shows the URL as `inboundUrl`).

Signed by Twilio with the channel's auth token, or refused with 403 before anything is
read. The message is read (cleaned and capped), queued on Redis with the messages of
concurrent requests (one push: jobs/group_commit.py) and answered once queued; the workers
keep and apply it (jobs/inbound_queue.py). While Redis cannot take it, it is applied here
before the answer. The answer is empty TwiML (Clarion sends no automatic reply; Twilio
sends its own to SMS keywords), also for a repeat of a message already kept and for one
Clarion cannot keep (no MessageSid, or a sender without an E.164 number such as a short
code): Twilio would only post it again.
"""

import logging
import time
from datetime import timedelta

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from db.enums import ChannelType
from db.inbound_message import read_inbound
from db.settings import Settings
from graph.hooks.twilio_request import Forbidden, empty_twiml, forbidden, verified_hook
from jobs.group_commit import GroupCommit
from jobs.inbound_queue import QueuedInbound, apply_inbound

log = logging.getLogger(__name__)


async def inbound_hook(request: Request) -> Response:
    try:
        hook = await verified_hook(request)
    except Forbidden:
        return forbidden()
    message = read_inbound(hook.params)
    if message is None:
        return empty_twiml()
    channel_type = ChannelType(hook.channel_type.value)
    item = QueuedInbound(hook.account_id, hook.channel_id, channel_type, message, time.time())
    queue: GroupCommit[QueuedInbound] = request.state.inbound_pusher
    try:
        await queue.submit(item)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("inbound message applied directly: Redis unavailable (%s)", exc)
        settings: Settings = request.state.settings
        window = timedelta(days=settings.reply_attribution_days)
        await apply_inbound(request.state.db, request.state.queue, item, window)
    return empty_twiml()
