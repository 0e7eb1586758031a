"""Clarion's API surface: the Starlette app, the Strawberry schema, auth and the CLI."""
