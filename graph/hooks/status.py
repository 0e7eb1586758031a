"""`POST /hooks/twilio/status`: Twilio's status callbacks.

The signature is checked first (graph/hooks/twilio_request.py): a request Twilio did not
sign for the channel it names gets 403 and changes nothing. A signed one is queued on Redis
(with the events of concurrent requests, in one push: jobs/group_commit.py) and answered
once queued (empty TwiML, as Twilio expects; a progress status such as "sent" is only
answered); the workers apply the queue in batches (jobs/status_queue.py). While Redis
cannot take it, the API applies it itself with the other callbacks arriving at the same
moment (graph/hooks/status_batcher.py) and answers once that is committed, so a callback
is never refused for an outage."""

import logging
from datetime import UTC, datetime

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from db.enums import ChannelType
from db.usecases.message_status import Reported, StatusEvent
from graph.hooks.status_batcher import StatusBatcher
from graph.hooks.twilio_request import Forbidden, empty_twiml, forbidden, verified_hook
from jobs.channels.twilio.status_events import from_callback
from jobs.group_commit import GroupCommit

log = logging.getLogger(__name__)


async def status_callback(request: Request) -> Response:
    try:
        hook = await verified_hook(request)
    except Forbidden:
        return forbidden()
    event = from_callback(
        hook.channel_id,
        hook.account_id,
        ChannelType(hook.channel_type.value),
        hook.params,
        datetime.now(UTC),  # replaced by the database's time when applied
    )
    # A progress status (queued, sending, sent: the send already made the lead SENT)
    # changes no lead: answered, not queued. A third of a WhatsApp message's callbacks.
    if event is not None and event.reported is not Reported.PROGRESS:
        queue: GroupCommit[StatusEvent] = request.state.status_pusher
        try:
            await queue.submit(event)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("status callback applied directly: Redis unavailable (%s)", exc)
            batcher: StatusBatcher = request.state.status_batcher
            await batcher.submit(event)
    return empty_twiml()
