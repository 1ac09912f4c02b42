"""Opening the store, keeping its schema current, writing to it one run at a time, and the
positions it keeps.

A store is a SQLAlchemy URL: SQLite by default (``darkvoyage.db`` in the working folder, or
``DARKVOYAGE_STORE``; a plain path means a SQLite file), PostgreSQL by ``postgresql://...``
(driven by psycopg 3). Opening one brings its schema to the newest Alembic migration.

Writing happens inside :func:`writing`: one transaction that only one process holds at a time
(SQLite: ``BEGIN IMMEDIATE``, which takes the database's write lock; PostgreSQL: a
transaction-scoped advisory lock). A second writer waits up to ``lock_wait_s`` and then
refuses with :class:`StoreBusy`; a run killed midway leaves the store as it was. SQLite runs
in WAL mode, so the desk keeps reading while a run writes.
"""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session

from features.errors import DarkvoyageError
from features.io import arrow_table
from features.settings import settings
from features.tracks import epoch_us

from .models import PositionBlock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_FILE = "darkvoyage.db"
#: Any fixed number: the PostgreSQL advisory lock that one writing run holds.
_PG_LOCK_KEY = 7_204_417
_DAY_US = 86_400_000_000


class StoreError(DarkvoyageError):
    """The store cannot be opened or used (a bad URL, an unreachable database)."""


class StoreBusy(StoreError):
    """Another run is writing to the store."""


@dataclass
class Store:
    engine: Engine
    url: str  # as given, password hidden: for messages

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def store_url(given: str | None = None) -> str:
    """The SQLAlchemy URL of ``given`` (a URL or a SQLite file path), else of
    ``DARKVOYAGE_STORE``, else of ``darkvoyage.db`` in the working folder.

    >>> store_url("desk.db").endswith("/desk.db") and store_url("desk.db").startswith("sqlite:///")
    True
    >>> store_url("postgresql://me@db/desk")
    'postgresql+psycopg://me@db/desk'
    """
    raw = given or settings().store or DEFAULT_FILE
    if "://" not in raw:
        return f"sqlite:///{Path(raw).expanduser().resolve()}"
    if raw.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    return raw


def open_store(given: str | None = None, lock_wait_s: float = 10.0, existing: bool = False) -> Store:
    """The store at ``given`` (see :func:`store_url`), its schema migrated to the newest.
    ``existing``: for commands that only read it, a SQLite file that is not there is an error
    (a mistyped path would otherwise be created, empty)."""
    url = store_url(given)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"--store {given!r}: not a database URL or a file path") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"--store {parsed.render_as_string()}: expected a SQLite file or a postgresql:// URL")
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and not Path(parsed.database).parent.is_dir():
            raise StoreError(f"--store {shown}: no such folder {Path(parsed.database).parent}")
        if existing and parsed.database and not Path(parsed.database).is_file():
            raise StoreError(f"--store {shown}: no such store (`darkvoyage watch` makes one)")
        engine = create_engine(url, connect_args={"timeout": lock_wait_s})
        _sqlite_transactions(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    store = Store(engine, shown)
    try:
        migrate(store)
    except DBAPIError as e:  # unreachable, not a database (a CSV given as --store), no right to create tables
        raise StoreError(f"--store {shown}: cannot open it ({str(e.orig).strip().splitlines()[0]})") from None
    return store


def _sqlite_transactions(engine: Engine) -> None:
    """SQLAlchemy's recipe for real SQLite transactions, in WAL mode; a writing run begins
    ``IMMEDIATE`` (takes the write lock at once, so two runs never interleave)."""
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _):
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("writing") else "BEGIN")


def migrate(store: Store) -> None:
    """Bring the schema to the newest migration (nothing to do on a current store)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def writing(store: Store, lock_wait_s: float = 10.0):
    """A :class:`Session` in one transaction that no other writer shares: committed when the
    block ends, rolled back if it raises (or the process dies)."""
    with store.engine.connect() as conn:
        conn.info["writing"] = True
        try:
            _lock(store, conn, lock_wait_s)
            with Session(bind=conn) as session:
                yield session
                session.flush()
            conn.commit()
            _fold_wal(store, conn)
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.info.pop("writing", None)


def _fold_wal(store: Store, conn) -> None:
    """SQLite: fold the write-ahead log into the database and empty it once a run has written,
    so a run leaves the store's one file and no log as large as what it wrote (80 MB beside
    the demo's store). Only ``watch`` and ``analyst add`` write through :func:`writing`, not the
    desk's requests. A reader still in a transaction (the desk open beside a run) holds the
    fold for up to the writer's busy timeout; then the log stays as it is, nothing fails."""
    if store.dialect == "sqlite":
        conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _lock(store: Store, conn, lock_wait_s: float) -> None:
    busy = StoreBusy(f"--store {store.url}: another run is writing to it; waited {lock_wait_s:g} s, try again "
                     "when it ends")
    if store.dialect == "sqlite":
        # This writer's wait, not the connect timeout the engine was opened with: set on the
        # driver's connection, so that it comes before the BEGIN IMMEDIATE it bounds.
        conn.connection.driver_connection.execute(f"PRAGMA busy_timeout = {int(lock_wait_s * 1000)}")
        try:
            conn.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: waits up to lock_wait_s
        except OperationalError as e:
            if "locked" in str(e.orig):
                raise busy from None
            raise
        return
    deadline = time.monotonic() + lock_wait_s
    while not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY}).scalar():
        if time.monotonic() > deadline:
            raise busy
        time.sleep(0.2)


# --- positions ------------------------------------------------------------------------------

def position_blocks(rows: pd.DataFrame) -> list[tuple[int, pd.DataFrame]]:
    """Validated rows split by UTC day: (day since the epoch, rows)."""
    t = epoch_us(rows["timestamp"]) if len(rows) else np.zeros(0, np.int64)
    day = t // _DAY_US
    return [(int(d), rows[day == d].reset_index(drop=True)) for d in np.unique(day)]


def encode(rows: pd.DataFrame) -> bytes:
    table = arrow_table(rows)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_table(table)
    return sink.getvalue()


def decode(data: bytes, mmsi: list[int] | None = None) -> pd.DataFrame:
    """A block's rows; with ``mmsi``, only those vessels' (filtered in Arrow, before pandas)."""
    table = pa.ipc.open_stream(io.BytesIO(data)).read_all()
    if mmsi is not None:
        import pyarrow.compute as pc
        table = table.filter(pc.is_in(table["mmsi"], value_set=pa.array(mmsi, pa.int64())))
    return table.to_pandas()


def read_positions(session: Session, first_day: int, last_day: int, mmsi: list[int] | None = None) -> pd.DataFrame:
    """Every stored validated row of UTC days ``first_day..last_day`` (of the vessels ``mmsi``
    only, when given: a vessel's page reads its own rows, not the fleet's)."""
    blocks = session.scalars(select(PositionBlock.data).where(PositionBlock.day.between(first_day, last_day))
                             .order_by(PositionBlock.ingest_id, PositionBlock.day)).all()
    frames = [decode(b, mmsi) for b in blocks]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
