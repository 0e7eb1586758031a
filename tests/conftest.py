"""Fixtures live in tests/support.py (with the helpers tests import); re-exported here."""

from tests.smtp_sink import smtp_sink
from tests.support import client, new_client, server

__all__ = ["client", "new_client", "server", "smtp_sink"]
