"""The store's tables (SQLAlchemy 2). Their schema is made and changed by the Alembic migrations
in ``serving/desk/migrations`` only; these classes are how the code reads and writes them.

Times are UTC (``DateTime(timezone=True)``). Positions are kept as they were read and
validated, one block per ingested file and UTC day, as compressed Arrow IPC (a day of a
1,000-ship fleet is ~160 k rows: one row per position would make every rescoring read millions
of rows through the database driver).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: The alert an analyst's verdict on a vessel no run alerted on raises (not a run).
REVIEW_KIND = "review"
#: Alert kinds (contract section 3, "Store and alerts"), and :data:`REVIEW_KIND`.
ALERT_KINDS = ("new_on_list", "risk_up", "new_event", REVIEW_KIND)
#: Alert status, in the order an analyst moves one along.
ALERT_STATUS = ("new", "in_review", "confirmed", "dismissed")
#: What an analyst can say of an alert (contract section 5, ``POST /verdicts``).
VERDICTS = ("suspicious", "benign", "uncertain")


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One ``watch`` run: the model it scored with and what it did."""
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    model_uri: Mapped[str] = mapped_column(Text)
    reference_ap: Mapped[float | None] = mapped_column(Float)
    files_added: Mapped[int] = mapped_column(Integer, default=0)
    vessels_scored: Mapped[int] = mapped_column(Integer, default=0)
    alerts: Mapped[int] = mapped_column(Integer, default=0)


class Ingest(Base):
    """One input file added to the store, by the digest of its bytes, with its row counts."""
    __tablename__ = "ingests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rows_read: Mapped[int] = mapped_column(BigInteger)
    rows_kept: Mapped[int] = mapped_column(BigInteger)
    rows_rejected: Mapped[int] = mapped_column(BigInteger)
    rejected_reasons: Mapped[str] = mapped_column(Text, default="{}")  # JSON: reason -> rows
    first_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PositionBlock(Base):
    """The validated rows of one ingested file on one UTC day (Arrow IPC, zstd)."""
    __tablename__ = "position_blocks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ingest_id: Mapped[int] = mapped_column(ForeignKey("ingests.id"), index=True)
    day: Mapped[int] = mapped_column(Integer, index=True)  # UTC days since 1970-01-01
    n_rows: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Voyage(Base):
    """A voyage as a run scored it (the model version is the run's)."""
    __tablename__ = "voyages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    mmsi: Mapped[int] = mapped_column(BigInteger, index=True)
    track_id: Mapped[str] = mapped_column(String(40))
    voyage_id: Mapped[str] = mapped_column(String(80))
    start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    origin_port: Mapped[str | None] = mapped_column(String(20))
    destination_port: Mapped[str | None] = mapped_column(String(20))
    risk: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[str] = mapped_column(Text)
    partial: Mapped[str] = mapped_column(String(10), default="")


class Vessel(Base):
    """Each vessel's standing on the list after the last run that touched it."""
    __tablename__ = "vessels"
    mmsi: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text, index=True)
    flag: Mapped[str | None] = mapped_column(String(10))
    imo: Mapped[str | None] = mapped_column(String(20), index=True)
    callsign: Mapped[str | None] = mapped_column(String(20))
    risk: Mapped[float | None] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(20))
    voyage_id: Mapped[str | None] = mapped_column(String(80))
    reasons: Mapped[str] = mapped_column(Text, default="")
    identities: Mapped[str] = mapped_column(Text, default="")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)


class Event(Base):
    """An event (contract event columns), kept once by its id (an id is stable from run to run;
    two events of one run may share one, say two tracks of a vessel meeting one partner at one
    time); ``run_id``: the run that found it."""
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(120), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    mmsi: Mapped[int] = mapped_column(BigInteger, index=True)
    track_id: Mapped[str | None] = mapped_column(String(40))
    partner_mmsi: Mapped[int | None] = mapped_column(BigInteger)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hours: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    end_lat: Mapped[float | None] = mapped_column(Float)
    end_lon: Mapped[float | None] = mapped_column(Float)
    port_id: Mapped[str | None] = mapped_column(String(20))
    km_to_port: Mapped[float | None] = mapped_column(Float)
    identity_changed: Mapped[bool | None] = mapped_column(Boolean)
    detail: Mapped[str | None] = mapped_column(Text)


class IdentityLink(Base):
    """An identity link (old MMSI -> new) as a run found it."""
    __tablename__ = "identity_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    from_mmsi: Mapped[int] = mapped_column(BigInteger, index=True)
    to_mmsi: Mapped[int] = mapped_column(BigInteger, index=True)
    level: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text)


class Analyst(Base):
    """An analyst; only a hash of the key is kept (the key is shown once, when added)."""
    __tablename__ = "analysts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """A vessel that entered the top of the list, rose in risk, or showed a new dark event."""
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    mmsi: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str | None] = mapped_column(Text)
    flag: Mapped[str | None] = mapped_column(String(10))
    risk: Mapped[float | None] = mapped_column(Float)
    previous_risk: Mapped[float | None] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[str] = mapped_column(Text)
    voyage_id: Mapped[str | None] = mapped_column(String(80))
    event_id: Mapped[str | None] = mapped_column(String(120))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)


class Verdict(Base):
    """What an analyst said of an alert, with a note; the alert's status follows the last one."""
    __tablename__ = "verdicts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    analyst_id: Mapped[int] = mapped_column(ForeignKey("analysts.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
