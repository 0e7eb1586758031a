"""`POST /hooks/twilio/status`: Twilio's status callbacks.

The signature is checked first (graph/hooks/twilio_request.py): a request Twilio did not
sign for the channel it names gets 403 and changes nothing. A signed one is applied with
the other callbacks arriving at the same moment (graph/hooks/status_batcher.py) and
answered once that is committed: empty TwiML, as Twilio expects."""

from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from db.enums import ChannelType
from graph.hooks.status_batcher import StatusBatcher
from graph.hooks.twilio_request import Forbidden, verified_hook
from jobs.channels.twilio.status_events import from_callback

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
        batcher: StatusBatcher = request.state.status_batcher
        await batcher.submit(event)
    return Response(EMPTY_TWIML, media_type="application/xml")
