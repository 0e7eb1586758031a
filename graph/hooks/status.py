"""`POST /hooks/twilio/status`: Twilio's status callbacks.

The signature is checked first (graph/hooks/twilio_request.py): a request Twilio did not
sign for the channel it names gets 403 and changes nothing. A signed one is queued on Redis
and answered at once (empty TwiML, as Twilio expects); the workers apply the queue in
batches (jobs/status_queue.py). While Redis cannot take it, the API applies it itself with
the other callbacks arriving at the same moment (graph/hooks/status_batcher.py) and
answers once that is committed, so a callback is never refused for an outage."""

import logging
from datetime import UTC, datetime

from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from db.enums import ChannelType
from graph.hooks.status_batcher import StatusBatcher
from graph.hooks.twilio_request import Forbidden, verified_hook
from jobs.channels.twilio.status_events import from_callback
from jobs.status_queue import push

log = logging.getLogger(__name__)

# Twilio's callbacks are a couple of kilobytes; a body far bigger is not one of them.
MAX_HOOK_BYTES = 64 * 1024
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _forbidden() -> Response:
    return Response(status_code=403)


async def status_callback(request: Request) -> Response:
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdecimal() or int(declared) > MAX_HOOK_BYTES):
        return _forbidden()
    try:
        if len(await request.body()) > MAX_HOOK_BYTES:
            return _forbidden()
        hook = await verified_hook(request)
    except (Forbidden, HTTPException, ClientDisconnect, ValueError):
        # Not Twilio's, or a body no form parser reads (Twilio's always parses).
        return _forbidden()
    event = from_callback(
        hook.channel_id,
        hook.account_id,
        ChannelType(hook.channel_type.value),
        hook.params,
        datetime.now(UTC),  # replaced by the database's time when applied
    )
    if event is not None:
        try:
            await push(request.state.queue, event)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("status callback applied directly: Redis unavailable (%s)", exc)
            batcher: StatusBatcher = request.state.status_batcher
            await batcher.submit(event)
    return Response(EMPTY_TWIML, media_type="application/xml")
