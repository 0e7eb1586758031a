"""Clarion's data: models, migrations, named queries and the use cases that change state."""
