"""Use cases: plain async functions that take a session, change state and never commit."""
