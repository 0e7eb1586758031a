"""The HTTP client the twilio package talks through: Twilio's hosts go to the channel's
`api_base_url`, every other host is refused before anything is sent.

Built on one pooled `httpx.AsyncClient` per channel base URL. What it does that the
package's own aiohttp client does not:
- sends a JSON body as JSON when the request says `Content-Type: application/json` (the
  package's async client hands it to aiohttp as form data: the Content API's create and
  approval calls would arrive form-encoded);
- never retries (creating a message is not idempotent) and never follows redirects;
- bounds every request by REQUEST_TIMEOUT_S in all, and the answer by MAX_RESPONSE_BYTES;
- reads no proxy, certificate or .netrc settings from the environment: the channel's base
  URL is where requests go, with the channel's credentials only.
"""

import asyncio
import functools
import json
import logging
import ssl
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

log = logging.getLogger(__name__)

# The hosts the twilio package calls for what Clarion uses (Messages; Content and its
# WhatsApp approvals; Messaging Services).
TWILIO_HOSTS = frozenset({"api.twilio.com", "content.twilio.com", "messaging.twilio.com"})
# A whole request (connect, send, answer) ends within this; the send engine's job budget
# counts on at most 45 s per message. Connecting gets the first CONNECT_TIMEOUT_S of it.
REQUEST_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
# Connections per channel base URL and worker process.
MAX_CONNECTIONS = 32
# A page of 1,000 messages is about 1 MB; more is not an answer Clarion reads.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class ForeignHost(Exception):
    """The twilio package asked for a host that is not Twilio's (or not over https):
    refused, nothing was sent."""


class ClientClosed(Exception):
    """The client was closed (its channel changed or the worker stops): nothing was sent."""


class DeadlineExceeded(Exception):
    """No complete answer within REQUEST_TIMEOUT_S; the request may have been received."""


class ResponseTooLarge(Exception):
    """The answer was longer than MAX_RESPONSE_BYTES; the request was received."""


def rewrite(url: str, base_url: str) -> str:
    """`url` (one of Twilio's hosts) on `base_url`, path and query kept; ForeignHost for
    anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ForeignHost(f"refused an unreadable URL {url[:100]!r}") from None
    if (
        parts.scheme != "https"
        or parts.hostname not in TWILIO_HOSTS
        or port is not None
        or parts.username is not None
        or parts.password is not None
    ):
        raise ForeignHost(
            f"refused a request to {parts.scheme}://{parts.netloc[:100]}: only "
            f"{', '.join(sorted(TWILIO_HOSTS))} over https are sent to the channel's API"
        )
    query = f"?{parts.query}" if parts.query else ""
    return f"{base_url.rstrip('/')}{parts.path}{query}"


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client (the default verification, no environment
    settings): building one reads the whole CA bundle, a few milliseconds, and a client is
    made per send run and per approval read."""
    return httpx.create_ssl_context(trust_env=False)


def _is_json(headers: Mapping[str, str]) -> bool:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return value.split(";")[0].strip().lower() == "application/json"
    return False


class ChannelHttpClient(AsyncHttpClient):  # type: ignore[misc]  # (twilio is untyped)
    """One channel base URL's connections. `aclose()` when done."""

    def __init__(self, base_url: str, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        super().__init__(logger=log, is_async=True, timeout=timeout_s)
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            # Connecting and waiting for a pooled connection end first: nothing sent yet.
            timeout=httpx.Timeout(
                timeout_s,
                connect=min(CONNECT_TIMEOUT_S, timeout_s),
                pool=min(CONNECT_TIMEOUT_S, timeout_s),
            ),
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            ),
            follow_redirects=False,
            trust_env=False,
            verify=_tls(),
        )

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    async def request(
        self,
        method: str,
        uri: str,
        params: Mapping[str, object] | None = None,
        data: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the twilio package's interface)
        allow_redirects: bool = False,
    ) -> Response:
        """Sends one request as the twilio package describes it; redirects are answers,
        never followed (whatever `allow_redirects` says)."""
        url = _with_params(rewrite(uri, self.base_url), params)
        if self._http.is_closed:
            raise ClientClosed("the channel's HTTP client is closed")
        headers = dict(headers or {})
        content: bytes | None = None
        form: Mapping[str, object] | None = None
        if data and _is_json(headers):
            content = json.dumps(data, separators=(",", ":")).encode()
        elif data:
            form = data
        budget = min(timeout or REQUEST_TIMEOUT_S, self.timeout or REQUEST_TIMEOUT_S)
        try:
            async with asyncio.timeout(budget):
                return await self._send(method, url, headers, auth, content, form)
        except TimeoutError:
            raise DeadlineExceeded(
                f"no complete answer from {self.base_url} within {budget:g} s"
            ) from None

    async def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        auth: tuple[str, str] | None,
        content: bytes | None,
        form: Mapping[str, object] | None,
    ) -> Response:
        request = self._http.build_request(
            method.upper(), url, headers=headers, content=content, data=form
        )
        basic = httpx.BasicAuth(*auth) if auth is not None else None
        response = await self._http.send(request, auth=basic, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ResponseTooLarge(
                        f"the answer from {self.base_url} is over {MAX_RESPONSE_BYTES} bytes"
                    )
                chunks.append(chunk)
        finally:
            await response.aclose()
        text = b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")
        return Response(response.status_code, text, response.headers)

    async def aclose(self) -> None:
        await self._http.aclose()

    close = aclose


def _with_params(url: str, params: Mapping[str, object] | None) -> str:
    """`url` with the twilio package's query parameters after its own query (a next-page
    URL carries one): lists repeat their name, None is left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((name, _text(item)))
    if not pairs:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(pairs)}"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
