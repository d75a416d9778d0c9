"""Alembic's environment: always online, on the connection ``schema.upgrade`` hands over.

``schema.upgrade`` opens the transaction (and takes the backend's lock) before
Alembic runs, so every revision and the version stamp commit together.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
