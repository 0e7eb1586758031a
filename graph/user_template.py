"""A template of the user's Twilio account (createMessagingCampaign's contentSid), read
from Twilio before the create's transaction: no transaction waits on Twilio."""

from db.engine import Database
from db.errors import DomainError, ErrorCode
from db.models import TwilioChannel
from db.queries import resolve_ref
from db.secrets import reveal
from db.usecases.messaging_campaigns import CONTENT_SID, FetchedContent
from jobs.channels.twilio.client import twilio_client
from jobs.channels.twilio.content_api import ContentApiError, fetch_content


async def fetch_user_template(
    db: Database, account_id: int, channel_code: str, sid: str
) -> FetchedContent | None:
    """The template through the channel's account; None when the channel or the template
    is not found (the create then says which), or the SID is malformed (likewise)."""
    if not CONTENT_SID.fullmatch(sid.strip()):
        return None
    async with db.read() as session:
        try:
            channel_id = await resolve_ref(
                session, TwilioChannel, account_id, channel_code.strip().lower(), "channel"
            )
        except DomainError:
            return None
        channel = await session.get_one(TwilioChannel, channel_id)
        sid_of_account, token = channel.account_sid, reveal(session, channel.auth_token)
        base_url = channel.api_base_url
    client, http = twilio_client(sid_of_account, token, base_url)
    try:
        return await fetch_content(client, sid.strip())
    except ContentApiError as exc:
        raise DomainError.one(
            ErrorCode.SEND_FAILED, f"Could not read the template: {exc.reason}", "content_sid"
        ) from exc
    finally:
        await http.aclose()
