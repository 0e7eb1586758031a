"""twilio `Client`s for channels: built on our HTTP client, one per channel, reused while
its credentials stay the same, all closed at shutdown."""

import asyncio
import contextlib
from dataclasses import dataclass, field

from twilio.rest import Client

from jobs.channels.twilio.http import REQUEST_TIMEOUT_S, ChannelHttpClient

# The twilio package reads TWILIO_ACCOUNT_SID / _AUTH_TOKEN / _REGION / _EDGE from the
# environment it is given, and os.environ when that is empty: it gets this instead, so
# nothing in the process environment redirects a channel's requests (region and edge
# rewrite hosts) or lends it credentials.
_NO_ENVIRONMENT = {"CLARION": "the twilio package reads nothing from the environment"}
# A replaced client is closed once requests begun on it have ended.
RETIRE_AFTER_S = REQUEST_TIMEOUT_S + 1


def twilio_client(
    account_sid: str, auth_token: str, api_base_url: str
) -> tuple[Client, ChannelHttpClient]:
    """A twilio Client whose requests go to `api_base_url`, and its HTTP client (close it
    with `aclose()` when done; the Client holds nothing else)."""
    http = ChannelHttpClient(api_base_url)
    client = Client(
        username=account_sid,
        password=auth_token,
        account_sid=account_sid,
        http_client=http,
        environment=_NO_ENVIRONMENT,
    )
    client.region = None
    client.edge = None
    # The package imports the Messages API's modules at first use (~50 ms): now, rather
    # than inside the first message's paced slot, where it would delay that send.
    _ = client.messages
    return client, http


@dataclass(frozen=True)
class Credentials:
    account_sid: str
    auth_token: str = field(repr=False)
    api_base_url: str


@dataclass
class _Entry:
    credentials: Credentials
    client: Client
    http: ChannelHttpClient


class TwilioClients:
    """One client per channel for the life of a worker process. A channel whose
    credentials or base URL changed gets a new client; the old one is closed after
    RETIRE_AFTER_S (a request begun on it ends first; one begun later raises ClientClosed,
    nothing sent)."""

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def get(self, channel_id: int, credentials: Credentials) -> Client:
        entry = self._entries.get(channel_id)
        if entry is not None and entry.credentials != credentials:
            del self._entries[channel_id]
            self._retire(entry.http)
            entry = None
        if entry is None:
            client, http = twilio_client(
                credentials.account_sid, credentials.auth_token, credentials.api_base_url
            )
            entry = self._entries[channel_id] = _Entry(credentials, client, http)
        return entry.client

    def _retire(self, http: ChannelHttpClient) -> None:
        async def later() -> None:
            try:
                await asyncio.sleep(RETIRE_AFTER_S)
            finally:
                await http.aclose()

        task = asyncio.get_running_loop().create_task(later())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def aclose(self) -> None:
        """Closes every client, retired ones at once."""
        entries, self._entries = list(self._entries.values()), {}
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*retiring, return_exceptions=True)
        await asyncio.gather(*(e.http.aclose() for e in entries))
