"""Secrets at rest (SMTP passwords now, Twilio auth tokens next): Fernet-encrypted with the
keys of CLARION_SECRET_KEY, or of a key file generated into the data dir when it is unset.

A stored secret is one of:
- ""                    no secret;
- "fernet:<token>"      encrypted (AES-128-CBC + HMAC-SHA256, cryptography's Fernet);
- "plain:<text>"        stored before encryption existed (marked by migration 0003, which
                        cannot know the key); `seal_stored_secrets` encrypts these at start.

Several keys may be given (comma-separated): the first encrypts, all decrypt, and start-up
re-encrypts with the first whatever an older key encrypted (key rotation).

The keyring travels with the Database (in its sessions' `info`), not in a global: two
servers in one process (tests) may have different keys.
"""

import contextlib
import errno
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import String, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import Database

SECRET_KEY_VAR = "CLARION_SECRET_KEY"
KEY_FILE = "secret.key"
SEALED = "fernet:"
PLAIN = "plain:"
# Fernet of a 255-character secret is ~440 characters; room for longer tokens (Twilio).
SecretColumn = String(1024)
_INFO_KEY = "clarion_keyring"


class SecretKeyError(Exception):
    """The secret key is missing, malformed or cannot decrypt what is stored; the message
    names CLARION_SECRET_KEY and what to do."""


@dataclass(frozen=True)
class Keyring:
    keys: tuple[bytes, ...]

    @property
    def _fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(k) for k in self.keys])

    def seal(self, secret: str) -> str:
        """The stored form of `secret` ("" stays "")."""
        if not secret:
            return ""
        return SEALED + self._fernet.encrypt(secret.encode()).decode()

    def reveal(self, stored: str) -> str:
        """The secret in a stored value; SecretKeyError when no key opens it."""
        if stored.startswith(SEALED):
            try:
                return self._fernet.decrypt(stored[len(SEALED) :].encode()).decode()
            except InvalidToken:
                raise SecretKeyError(
                    f"{SECRET_KEY_VAR} cannot decrypt a stored secret: the key that encrypted "
                    f"it is not among the configured ones. Put it back in {SECRET_KEY_VAR} "
                    "(after the new key, comma-separated, to rotate)."
                ) from None
        if stored.startswith(PLAIN):
            return stored[len(PLAIN) :]
        return stored

    def is_current(self, stored: str) -> bool:
        """True when `stored` needs no rewrite: empty, or encrypted with the first key."""
        if not stored:
            return True
        if not stored.startswith(SEALED):
            return False
        try:
            Fernet(self.keys[0]).decrypt(stored[len(SEALED) :].encode())
        except InvalidToken:
            return False
        return True


def parse_keys(raw: str) -> tuple[bytes, ...]:
    """Comma-separated Fernet keys (32 url-safe base64 bytes each); ValueError if malformed."""
    keys = tuple(part.strip().encode() for part in raw.split(",") if part.strip())
    if not keys:
        raise ValueError(f"{SECRET_KEY_VAR} is set but holds no key")
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"{SECRET_KEY_VAR}: key {n} is not a Fernet key (32 url-safe base64-encoded "
                'bytes; make one with python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())")'
            ) from None
    return keys


def load_keyring(configured: Sequence[bytes], data_dir: Path) -> Keyring:
    """The configured keys, or the data dir's key file (made on first use, mode 0600)."""
    if configured:
        return Keyring(tuple(configured))
    return Keyring((_key_file(data_dir),))


def _key_file(data_dir: Path) -> bytes:
    """Reads DATA_DIR/secret.key, creating it if missing. Two processes starting at once
    agree: the key is written to a private temporary file, then linked into place, which
    fails for the second (EEXIST), so a half-written key file is never seen."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{KEY_FILE}.{os.getpid()}.{time.monotonic_ns()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, Fernet.generate_key() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        finally:
            tmp.unlink()
    try:
        return parse_keys(path.read_text())[0]
    except ValueError:
        raise SecretKeyError(
            f"{path} does not hold a valid key; restore it, or set {SECRET_KEY_VAR}"
        ) from None


def attach(db: Database, keyring: Keyring) -> None:
    """Makes `keyring_of(session)` work in every session of `db`."""
    for maker in (db.writer, db.reader):
        maker.configure(info={_INFO_KEY: keyring})


def keyring_of(session: AsyncSession) -> Keyring:
    keyring = session.info.get(_INFO_KEY)
    if not isinstance(keyring, Keyring):
        raise SecretKeyError(f"No secret key is loaded (see {SECRET_KEY_VAR}).")
    return keyring


def seal(session: AsyncSession, secret: str) -> str:
    """`secret` as stored by this session's database ("" needs no key)."""
    return keyring_of(session).seal(secret) if secret else ""


def reveal(session: AsyncSession, stored: str) -> str:
    """The secret in a stored value ("" needs no key)."""
    return keyring_of(session).reveal(stored) if stored else ""


async def seal_stored_secrets(db: Database) -> int:
    """Encrypts with the first key every stored secret (SMTP passwords, Twilio auth tokens)
    that is in clear or under an older key; raises SecretKeyError (naming
    CLARION_SECRET_KEY) when one cannot be decrypted, so a wrong key stops the start, not a
    send. Returns how many were rewritten."""
    from db.models import EmailChannel, TwilioChannel

    rewritten = 0
    async with db.write() as session:
        keyring = keyring_of(session)
        for model, name in ((EmailChannel, "smtp_password"), (TwilioChannel, "auth_token")):
            column = getattr(model, name)
            rows = (await session.execute(select(model.id, column).where(column != ""))).all()
            for ident, stored in rows:
                if keyring.is_current(stored):
                    continue
                secret = keyring.reveal(stored)
                await session.execute(
                    update(model)
                    .where(model.id == ident, column == stored)
                    .values({name: keyring.seal(secret)})
                    .execution_options(synchronize_session=False)
                )
                rewritten += 1
    return rewritten


def make_sqlite_file_private(database_url: str) -> None:
    """Creates the SQLite database file readable only by its owner (0600), or makes it so;
    SQLite gives its -wal and -shm files the database file's mode."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            part.chmod(0o600)
