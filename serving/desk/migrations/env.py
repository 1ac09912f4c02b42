"""Alembic's environment for the store: the connection comes from :func:`serving.desk.store.migrate`
(``config.attributes["connection"]``), or, for ``alembic`` run by hand, from the ``-x url=...``
argument."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from serving.desk.models import Base

config = context.config


def _run(connection) -> None:
    # batch mode: SQLite alters a table by copying it, which later migrations will need.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with create_engine(context.get_x_argument(as_dictionary=True)["url"]).connect() as conn:
        _run(conn)
