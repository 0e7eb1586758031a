"""SMTP delivery over a small pool of reused connections per channel (aiosmtplib).

`SmtpPool.send` sends a batch over the pool's connections at once and says, per message,
what happened: sent; failed for good (a 5xx for the recipient); worth a retry (a 4xx, or
the connection broke before the message data went out); unknown (the connection broke or
timed out after DATA began: the server may have accepted it, so a resend is flagged a
possible duplicate); or not attempted (no connection could be made, or the caller's
deadline for starting sends passed).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import aiosmtplib

from db.enums import SmtpSecurity
from db.kinds.email import SmtpConfig
from db.smtp_hosts import ANY_HOST, HostPolicy

# MESSAGE_TIMEOUT_S: a server that answers each command just before SMTP_TIMEOUT_S must
# not hold a batch for minutes.
from jobs.channels.base import MESSAGE_TIMEOUT_S, NOT_ATTEMPTED, Outcome, SendResult
from jobs.channels.email.mime import Envelope
from jobs.channels.email.smtp_errors import HostNotAllowed, describe_lost, describe_unavailable

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 30.0
# A connection idle this long may have been dropped by the server: reconnect first.
IDLE_RECONNECT_S = 20.0


class _Connection:
    def __init__(self, config: SmtpConfig, hosts: HostPolicy) -> None:
        self.config = config
        self.hosts = hosts
        self.smtp: aiosmtplib.SMTP | None = None
        self.last_used = 0.0

    async def ready(self) -> aiosmtplib.SMTP:
        if self.smtp is not None and (
            not self.smtp.is_connected or time.monotonic() - self.last_used > IDLE_RECONNECT_S
        ):
            await self.close()
        if self.smtp is None:
            c = self.config
            if not self.hosts.allows(c.host):  # saved before the operator restricted hosts
                raise HostNotAllowed(c.host)
            smtp = aiosmtplib.SMTP(
                hostname=c.host,
                port=c.port,
                use_tls=c.security is SmtpSecurity.TLS,
                start_tls=c.security is SmtpSecurity.STARTTLS,
                timeout=SMTP_TIMEOUT_S,
            )
            try:
                await smtp.connect()
                if c.username:
                    await smtp.login(c.username, c.password)
            except BaseException:  # a refused login (or a cancel) must not leak the socket
                await _quit(smtp)
                raise
            self.smtp = smtp
            self.last_used = time.monotonic()
        return self.smtp

    async def send(self, envelope: Envelope) -> SendResult:
        """Sends one message (connecting first if needed), within MESSAGE_TIMEOUT_S."""
        data_began = False
        try:
            async with asyncio.timeout(MESSAGE_TIMEOUT_S):
                smtp = await self.ready()
                try:
                    await smtp.mail(envelope.sender)
                    await smtp.rcpt(envelope.recipient)
                except aiosmtplib.SMTPResponseException:
                    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                        await smtp.rset()
                    raise
                data_began = True
                await smtp.data(envelope.data)
        except aiosmtplib.SMTPResponseException as exc:  # the server answered: its verdict
            if exc.code == 421:  # the server is closing this connection
                await self.close()
            return _by_code(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.info("SMTP connection to %s lost: %r", self.config.host, exc)
            await self.close()
            if data_began:
                # The message data may have reached the server before the connection broke:
                # no reply came, so nobody knows. Retried, and flagged if sent again.
                return SendResult(Outcome.UNKNOWN, f"{describe_lost(exc)} after DATA")
            # No DATA yet: the server has no message; try it again later.
            return SendResult(Outcome.RETRY, describe_lost(exc))
        finally:
            self.last_used = time.monotonic()
        return SendResult(Outcome.SENT)

    async def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            await _quit(smtp)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """Says goodbye if the connection is up, and drops the socket either way."""
    try:
        if smtp.is_connected:
            await asyncio.wait_for(smtp.quit(), 2)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        pass
    finally:
        smtp.close()


def _by_code(code: int, message: str) -> SendResult:
    reason = f"{code} {message}".strip()
    return SendResult(Outcome.FAILED if 500 <= code < 600 else Outcome.RETRY, reason)


class SmtpUnavailable(Exception):
    """No connection to the channel's SMTP server could be made (or logged in)."""


class SmtpPool:
    """Up to `size` connections to one server, each sending one message at a time."""

    def __init__(self, config: SmtpConfig, size: int, hosts: HostPolicy = ANY_HOST) -> None:
        self.config = config
        self._connections = [_Connection(config, hosts) for _ in range(size)]
        self._lock = asyncio.Lock()  # one batch at a time: the connections are shared

    async def send(
        self, envelopes: Sequence[Envelope], may_start: Callable[[], bool]
    ) -> tuple[list[SendResult], SmtpUnavailable | None]:
        """A result per envelope, and why the server could not be reached, if it couldn't."""
        results = [NOT_ATTEMPTED] * len(envelopes)
        next_index = iter(range(len(envelopes)))
        unavailable: list[SmtpUnavailable] = []

        async def work(connection: _Connection) -> None:
            for i in next_index:
                if not may_start():
                    return
                try:
                    async with asyncio.timeout(MESSAGE_TIMEOUT_S):
                        await connection.ready()
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    log.info("SMTP server %s unavailable: %r", connection.config.host, exc)
                    why = describe_unavailable(exc, connection.config.host)
                    unavailable.append(SmtpUnavailable(why))
                    results[i] = SendResult(Outcome.UNSENT, why)
                    return
                results[i] = await connection.send(envelopes[i])

        async with self._lock:
            busy = self._connections[: max(1, min(len(self._connections), len(envelopes)))]
            await asyncio.gather(*(work(c) for c in busy))
        # Every connection failing means the server is unreachable; one failing is noise.
        down = unavailable[0] if len(unavailable) == len(busy) else None
        return results, down

    async def close(self) -> None:
        """Closes the connections once no batch uses them."""
        async with self._lock:
            await asyncio.gather(*(c.close() for c in self._connections))


class SmtpPools:
    """One pool per channel, for the life of a worker process. A channel whose settings
    changed gets a new pool, and the old one is closed (a stale login or host is not kept
    open)."""

    def __init__(self, size: int, hosts: HostPolicy = ANY_HOST) -> None:
        self._size = size
        self._hosts = hosts
        self._pools: dict[int, SmtpPool] = {}

    async def get(self, channel_id: int, config: SmtpConfig) -> SmtpPool:
        pool = self._pools.get(channel_id)
        if pool is not None and pool.config != config:
            del self._pools[channel_id]
            await pool.close()
            pool = None
        if pool is None:
            pool = self._pools[channel_id] = SmtpPool(config, self._size, self._hosts)
        return pool

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(pool.close() for pool in pools))
