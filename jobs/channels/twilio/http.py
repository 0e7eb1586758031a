"""The HTTP client the twilio package talks through: Twilio's hosts go to the channel's
`api_base_url`, every other host is refused before anything is sent.

Built on one pooled `aiohttp.ClientSession` per channel base URL (aiohttp, the package's
own async HTTP library, costs about a tenth of httpx's CPU per request:
tests/benchmarks/bench_twilio_send.py). What it does that the package's own async client
does not:
- sends a JSON body as JSON when the request says `Content-Type: application/json` (the
  package's async client hands it to aiohttp as form data: the Content API's create and
  approval calls would arrive form-encoded);
- never retries (creating a message is not idempotent) and never follows redirects;
- bounds every request by REQUEST_TIMEOUT_S in all, and the answer by MAX_RESPONSE_BYTES
  (asked for and read unencoded: a compressed answer could not be bounded before it is
  inflated);
- reads no proxy, certificate or .netrc settings from the environment: the channel's base
  URL is where requests go, with the channel's credentials only.
"""

import asyncio
import base64
import codecs
import functools
import json
import logging
import ssl
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

import aiohttp
import certifi
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

log = logging.getLogger(__name__)

# The hosts the twilio package calls for what Clarion uses (Messages; Content and its
# WhatsApp approvals; Messaging Services).
TWILIO_HOSTS = frozenset({"api.twilio.com", "content.twilio.com", "messaging.twilio.com"})
# A whole request (connect, send, answer) ends within this; the send engine's job budget
# counts on at most 45 s per message. Waiting for a free connection, and connecting, get
# CONNECT_TIMEOUT_S each, within it.
REQUEST_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
# Connections per channel base URL and worker process.
MAX_CONNECTIONS = 32
# A page of 1,000 messages is about 1 MB; more is not an answer Clarion reads.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024


class ForeignHost(Exception):
    """The twilio package asked for a host that is not Twilio's (or not over https):
    refused, nothing was sent."""


class ClientClosed(Exception):
    """The client was closed (its channel changed or the worker stops): nothing was sent."""


class NoConnectionFree(Exception):
    """Every connection stayed busy for CONNECT_TIMEOUT_S: nothing was sent."""


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
    """One TLS context for every client: the default verification against certifi's CA
    bundle (what the twilio package trusts), no environment settings. Building one reads
    the whole bundle, a few milliseconds, and a client is made per channel and per approval
    read."""
    return ssl.create_default_context(cafile=certifi.where())


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
        self._connect_s = min(CONNECT_TIMEOUT_S, timeout_s)
        # Waited for here, so that a request the pool cannot serve fails as nothing sent
        # (aiohttp's own wait would read as a connect timeout).
        self._free = asyncio.Semaphore(MAX_CONNECTIONS)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    def _pool(self) -> aiohttp.ClientSession:
        """Made at the first request: a session belongs to the loop it is made on."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=_tls()),
                timeout=aiohttp.ClientTimeout(sock_connect=self._connect_s),
                trust_env=False,
                auto_decompress=False,
                raise_for_status=False,
            )
        return self._session

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
        if self._closed:
            raise ClientClosed("the channel's HTTP client is closed")
        headers = {**(headers or {}), "Accept-Encoding": "identity"}
        body: bytes | None = None
        if data and _is_json(headers):
            body = json.dumps(data, separators=(",", ":")).encode()
        elif data:
            body = urlencode(_pairs(data)).encode()
            headers = {**_without(headers, "content-type"), "Content-Type": _FORM}
        if auth is not None:
            headers["Authorization"] = _basic(*auth)
        budget = min(timeout or REQUEST_TIMEOUT_S, self.timeout or REQUEST_TIMEOUT_S)
        try:
            async with asyncio.timeout(budget):
                async with _within(self._free, self._connect_s):
                    return await self._send(method.upper(), url, headers, body)
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ClientError):  # a connect timeout: nothing sent
                raise
            raise DeadlineExceeded(
                f"no complete answer from {self.base_url} within {budget:g} s"
            ) from None

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> Response:
        if self._closed:  # closed while this request waited for a connection
            raise ClientClosed("the channel's HTTP client is closed")
        async with self._pool().request(
            method, url, headers=headers, data=body, allow_redirects=False
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ResponseTooLarge(
                        f"the answer from {self.base_url} is over {MAX_RESPONSE_BYTES} bytes"
                    )
                chunks.append(chunk)
            text = b"".join(chunks).decode(_charset(response.charset), errors="replace")
            return Response(response.status, text, response.headers)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()

    close = aclose


_FORM = "application/x-www-form-urlencoded"


class _within:
    """`async with` a semaphore taken within `seconds`, or NoConnectionFree."""

    def __init__(self, semaphore: asyncio.Semaphore, seconds: float) -> None:
        self._semaphore = semaphore
        self._seconds = seconds

    async def __aenter__(self) -> None:
        try:
            async with asyncio.timeout(self._seconds):
                await self._semaphore.acquire()
        except TimeoutError:
            raise NoConnectionFree(f"no connection was free within {self._seconds:g} s") from None

    async def __aexit__(self, *_: object) -> None:
        self._semaphore.release()


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _without(headers: Mapping[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key.lower() != name}


def _charset(name: str | None) -> str:
    """The answer's charset when Python knows it (a hostile server names any), else UTF-8."""
    if name:
        try:
            return codecs.lookup(name).name
        except LookupError:
            pass
    return "utf-8"


def _with_params(url: str, params: Mapping[str, object] | None) -> str:
    """`url` with the twilio package's query parameters after its own query (a next-page
    URL carries one)."""
    pairs = _pairs(params or {})
    if not pairs:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(pairs)}"


def _pairs(fields: Mapping[str, object]) -> list[tuple[str, str]]:
    """The twilio package's parameters as name/value pairs: lists repeat their name, None
    is left out."""
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((name, _text(item)))
    return pairs


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
