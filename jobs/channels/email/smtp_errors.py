"""SMTP failures as clients may see them: what went wrong and what to check, naming the
host the user typed but never resolved addresses, errno text, local ports or stack text
(those tell a client about the server's network). The full error goes to the log."""

import socket
import ssl

import aiosmtplib

from db.smtp_hosts import not_allowed_message
from jobs.channels.network_errors import ERRNO_REASONS


class HostNotAllowed(aiosmtplib.SMTPException):
    """The channel's host is outside CLARION_SMTP_ALLOWED_HOSTS (checked before connecting)."""


def _root(exc: BaseException) -> BaseException:
    """The innermost cause (aiosmtplib wraps OSError in SMTPConnectError)."""
    seen = 0
    while exc.__cause__ is not None and seen < 5:
        exc, seen = exc.__cause__, seen + 1
    return exc


def _reason(exc: BaseException) -> str:
    root = _root(exc)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return f"login refused ({exc.code}); check the username and password"
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return f"the server refused the connection ({exc.code})"
    if isinstance(root, socket.gaierror):
        return "host name not found"
    if isinstance(root, ssl.SSLError):
        return "TLS handshake failed; check the port and security setting"
    if isinstance(exc, aiosmtplib.SMTPTimeoutError) or isinstance(root, TimeoutError):
        return "timed out"
    if isinstance(root, OSError) and root.errno in ERRNO_REASONS:
        return ERRNO_REASONS[root.errno]
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"the server answered {exc.code}"
    return "connection failed"


def describe_unavailable(exc: BaseException, host: str) -> str:
    """Why no connection to `host` could be made, for users."""
    if isinstance(exc, HostNotAllowed):
        return not_allowed_message(host)
    return f"Could not connect to the channel's SMTP server {host!r} ({_reason(exc)})."


def describe_lost(exc: BaseException) -> str:
    """Why a connection broke during a transaction, for users."""
    return f"connection lost ({_reason(exc)})"
